"""Apply a counterparty snapshot to Bitrix24, exactly once in effect.

Inside one PostgreSQL transaction holding the counterparty's advisory lock: skip the event if the inbox
has it or the link holds a newer version; compute the desired state (pure); then, for every Bitrix24
object, find it (link → external-key look-up → create) and send only what 1C changed since the last push;
finally save links, the pushed state and the inbox row, and commit.  A crash after a Bitrix24 call and
before the commit is harmless: the redelivered event finds what was created by its external key.

Look-ups cost what they must and no more: companies and contacts are looked up by ``ORIGIN_ID`` together
with the look-ups of concurrent events (one IN-filtered list command for up to 50), and the children of
an object this event has just created (its requisite, the requisite's bank details) are not looked up at
all, because a new object holds nothing yet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from onec_outbox.contract import CounterpartyEvent

from .. import topology
from ..b24 import B24
from ..b24.lookup import KeyLookup
from ..consumer import Outcome
from ..domain import counterparty as domain
from ..domain.diff import field_changes, multifield_changes, unconfirmed
from ..errors import B24NotFound, B24ValidationError
from ..links import Link, UnitOfWork, unit_of_work
from ..mapping import Mapping
from . import guards
from .keyed import How, Keyed, find_or_create

ONEC_COUNTERPARTY = "counterparty"
ONEC_BANK_ACCOUNT = "bank_account"
ONEC_CONTACT_PERSON = "contact_person"


class CounterpartyHandler:
    name = "counterparty"
    target = topology.TARGETS["counterparty"]
    mapping_keys = ("requisite_presets", "company_type", "default_responsible_id")
    event_types = target.event_types

    def __init__(self, pool: asyncpg.Pool, b24: B24, mapping: Mapping) -> None:
        self._pool = pool
        self._b24 = b24
        self._mapping = mapping
        self._lookups: dict[tuple[str, str], KeyLookup] = {}

    def _lookup(self, kind: str, originator: str) -> KeyLookup:
        """One shared look-up per kind and originator, so concurrent events ask together."""
        if (kind, originator) not in self._lookups:
            self._lookups[(kind, originator)] = KeyLookup(
                self._b24, f"crm.{kind}.list", key="ORIGIN_ID", select=[], id_field="ID",
                base_filter={"ORIGINATOR_ID": originator},
                # companies shared between 1C bases: another process's creation must be seen (no pre-read)
                preread="{source}" in self._mapping.originator_id)
        return self._lookups[(kind, originator)]

    async def handle(self, event: CounterpartyEvent) -> Outcome:
        entity_id = str(event.entity_id)
        async with unit_of_work(self._pool, self.name, event.source, f"counterparty/{entity_id}") as uow:
            links = await guards.seen_or_stale(uow, event, ONEC_COUNTERPARTY, entity_id, ("company", "contact"))
            if isinstance(links, Outcome):
                return links
            owners = [links[k] for k in ("company", "contact") if k in links]
            originator = self._mapping.originator(event.source)
            if not owners and "{source}" not in self._mapping.originator_id:
                # an originator_id without {source} lets 1C bases share companies: serialise their first
                # contact with one counterparty id, or two bases sending it at once would make two
                await uow.lock_key(f"counterparty/{originator}/{entity_id}")
            desired = domain.desired_state(event.payload, entity_id=entity_id, originator=originator,
                                           presets=self._mapping.requisite_presets)
            state = _as_json(desired)
            main = links.get(desired.kind)
            if await guards.unchanged(uow, event, ONEC_COUNTERPARTY, entity_id, main, state):
                return Outcome.UNCHANGED
            pushed = main.pushed_state if main is not None else None
            if main is not None and main.in_doubt and pushed is not None:
                pushed = _unconfirmed(pushed, main.pending_state or {})
            await uow.begin_push(main, _pending(pushed or {}, state))
            apply = _Apply(self._b24, uow, self._mapping, entity_id, desired, pushed or {}, self._lookup)
            # a different kind than before (ФизЛицо ↔ ЮрЛицо/ИП): a new owner, and all it holds made anew
            apply.fresh = main is None and bool(owners)
            owner_id = await apply.main(main)
            await apply.requisite_tree(owner_id, links.get("requisite"))
            if desired.kind == "company":
                await apply.contacts(owner_id)
            await apply.deletion_mark(owner_id)
            await uow.save_link(ONEC_COUNTERPARTY, entity_id, desired.kind, owner_id,
                                version=event.version, pushed_state=state)
            await uow.mark_processed(event.event_id)
            return Outcome.APPLIED


def _unconfirmed(pushed: dict[str, Any], pending: dict[str, Any]) -> dict[str, Any]:
    """The diff base after a push that died half-way (``pending``: the fields it meant to write): every
    field, phone, e-mail, address and bank account is sent again (and a field only the old or the failed
    push had is still cleared, an account only the old one had deleted); the deletion comment is not added
    twice."""
    def person(p: dict[str, Any], fields: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**p, "fields": unconfirmed(p.get("fields"), fields), "PHONE": None, "EMAIL": None, "city": None}

    return {**pushed, "main": person(pushed["main"], pending.get("main")) if pushed.get("main") else None,
            "requisite": unconfirmed(pushed.get("requisite"), pending.get("requisite")),
            "addresses": {t: unconfirmed(a) for t, a in (pushed.get("addresses") or {}).items()},
            "bank_details": {n: unconfirmed(b) for n, b in (pushed.get("bank_details") or {}).items()},
            "contacts": {k: person(c) for k, c in (pushed.get("contacts") or {}).items()}}


def _pending(base: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The owner's and requisite's fields this push may set (with those a failed push may have set)."""
    return {"main": {**((base.get("main") or {}).get("fields") or {}), **state["main"]["fields"]},
            "requisite": {**(base.get("requisite") or {}), **(state["requisite"] or {})}}


def _as_json(state: domain.CounterpartyState) -> dict[str, Any]:
    return {
        "kind": state.kind,
        "main": state.main.as_json(),
        "requisite": state.requisite,
        "addresses": {str(k): v for k, v in state.addresses.items()},
        "bank_details": state.bank_details,
        "contacts": {k: v.as_json() for k, v in state.contacts.items()},
        "deleted": state.deleted,
    }


class _Apply:
    """The Bitrix24 calls for one counterparty event (one instance per event)."""

    def __init__(self, b24: B24, uow: UnitOfWork, mapping: Mapping, entity_id: str,
                 desired: domain.CounterpartyState, pushed: dict[str, Any],
                 lookup: Callable[[str, str], KeyLookup]) -> None:
        self.b24 = b24
        self.lookup = lookup
        self.created: set[tuple[str, int]] = set()  # (kind, id) made by this event: nothing to look up under them
        self.uow = uow
        self.mapping = mapping
        self.entity_id = entity_id
        self.desired = desired
        self.pushed = pushed
        self.fresh = False  # the owner is new or re-made: links and pushed state of what it holds are void

    # --- the company, or the contact of a ФизЛицо -------------------------------------------------------

    async def main(self, link: Link | None) -> int:
        kind = self.desired.kind
        extra = {"ASSIGNED_BY_ID": str(self.mapping.default_responsible_id)}
        if kind == "company":
            extra["COMPANY_TYPE"] = self.mapping.company_type
        person = await self._person(kind, self.desired.main, link, self.pushed.get("main"), extra)
        if person.relinked:  # deleted by hand in Bitrix24: made again, with everything it held
            self.fresh = True
        return person.id

    async def _person(self, kind: str, state: domain.PersonState, link: Link | None, pushed: dict | None,
                      extra: dict[str, str]) -> Keyed:
        """A company or contact: the linked one, else found by ORIGINATOR_ID + ORIGIN_ID, else created; a
        found one is brought up to date."""

        async def find() -> int | None:
            found = await self.lookup(kind, state.fields["ORIGINATOR_ID"]).find(state.fields["ORIGIN_ID"])
            return int(found[0]["ID"]) if found else None

        async def create() -> int:
            fields: dict[str, Any] = {**extra, **state.fields}
            if state.phones:
                fields["PHONE"] = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in state.phones]
            if state.emails:
                fields["EMAIL"] = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in state.emails]
            b24_id = int(await self.b24.call(f"crm.{kind}.add", {"fields": fields}))
            self.created.add((kind, b24_id))
            return b24_id

        return await find_or_create(
            b24_type=kind, entity_id=self.entity_id, linked=link.b24_id if link is not None else None,
            refresh=lambda b24_id: self._update_person(kind, b24_id, state, pushed), find=find,
            update=lambda b24_id: self._update_person(kind, b24_id, state, None), create=create)

    async def _update_person(self, kind: str, b24_id: int, state: domain.PersonState, pushed: dict | None) -> None:
        fields: dict[str, Any] = field_changes(state.fields, (pushed or {}).get("fields") if pushed else None)
        multi = {"PHONE": state.phones, "EMAIL": state.emails}
        if pushed is None or any(pushed.get(k) is None or list(multi[k]) != list(pushed[k]) for k in multi):
            current = await self.b24.call(f"crm.{kind}.get", {"id": b24_id})
            for key, values in multi.items():
                ops = multifield_changes(key, current.get(key) or [], pushed.get(key) if pushed else None, values)
                if ops:
                    fields[key] = ops
        if fields:
            await self.b24.call(f"crm.{kind}.update", {"id": b24_id, "fields": fields})

    # --- requisite, its addresses and bank details --------------------------------------------------------

    async def requisite_tree(self, owner_id: int, link: Link | None) -> None:
        owner_type = domain.REQUISITE_OWNER_COMPANY if self.desired.kind == "company" else domain.REQUISITE_OWNER_CONTACT
        if self.fresh:
            link = None
        requisite_id, fresh = await self._ensure_requisite(owner_type, owner_id, self.desired.requisite, link,
                                                           self.pushed.get("requisite"))
        self.fresh = self.fresh or fresh  # a new requisite holds none of the old bank details or addresses
        await self.uow.save_link(ONEC_COUNTERPARTY, self.entity_id, "requisite", requisite_id)
        await self._addresses(requisite_id, self.desired.addresses,
                              {} if self.fresh else self.pushed.get("addresses") or {}, self.fresh)
        await self._bank_details(requisite_id)

    async def _ensure_requisite(self, owner_type: int, owner_id: int, desired: dict[str, str],
                                link: Link | None, pushed: dict | None) -> tuple[int, bool]:
        """The requisite's id (link → look-up by XML_ID on the owner → create), brought up to date;
        ``fresh`` is True when it was not known from the link (its addresses must be checked)."""
        owner_kind = "company" if owner_type == domain.REQUISITE_OWNER_COMPANY else "contact"

        async def refresh(requisite_id: int) -> None:
            changes = field_changes(desired, pushed)
            if changes:
                await self.b24.call("crm.requisite.update", {"id": requisite_id, "fields": changes})

        async def find() -> int | None:
            if (owner_kind, owner_id) in self.created:  # a new owner holds no requisite yet
                return None
            found = await self.b24.call("crm.requisite.list", {
                "filter": {"ENTITY_TYPE_ID": owner_type, "ENTITY_ID": owner_id, "XML_ID": desired["XML_ID"]},
                "select": ["ID"], "order": {"ID": "ASC"}})
            return int(found[0]["ID"]) if found else None

        async def update(requisite_id: int) -> None:
            await self.b24.call("crm.requisite.update", {"id": requisite_id, "fields": dict(desired)})

        async def create() -> int:
            requisite_id = int(await self.b24.call("crm.requisite.add", {
                "fields": {"ENTITY_TYPE_ID": owner_type, "ENTITY_ID": owner_id, **desired}}))
            self.created.add(("requisite", requisite_id))
            return requisite_id

        requisite = await find_or_create(
            b24_type="requisite", entity_id=self.entity_id, linked=link.b24_id if link is not None else None,
            refresh=refresh, find=find, update=update, create=create)
        return requisite.id, requisite.how is not How.LINKED

    async def _addresses(self, requisite_id: int, desired: dict[int, dict[str, str]],
                         pushed_all: dict[str, dict], fresh: bool) -> None:
        """Write each address whole (Bitrix24 keys it by type on the requisite and has no id for it); an
        address type 1C no longer has is deleted."""
        for type_id in sorted({int(t) for t in pushed_all} - set(desired)):
            try:
                await self.b24.call("crm.address.delete", {"fields": {
                    "TYPE_ID": type_id, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id}})
            except (B24NotFound, B24ValidationError) as exc:
                if "TypeAddress" not in exc.description and not isinstance(exc, B24NotFound):
                    raise
        for type_id, fields in desired.items():
            pushed = pushed_all.get(str(type_id))
            if pushed == fields and not fresh:
                continue
            full = {**{k: "" for k in (pushed or {}) if k not in fields}, **fields,
                    "TYPE_ID": type_id, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id}
            first, second = ("crm.address.update", "crm.address.add") if pushed else ("crm.address.add", "crm.address.update")
            try:
                await self.b24.call(first, {"fields": full})
            except (B24NotFound, B24ValidationError) as exc:
                if "TypeAddress" not in exc.description:
                    raise
                await self.b24.call(second, {"fields": full})

    async def _bank_details(self, requisite_id: int) -> None:
        pushed_all = self.pushed.get("bank_details") or {}
        keys = [f"{self.entity_id}/{n}" for n in {*self.desired.bank_details, *pushed_all}]
        links = {} if self.fresh else await self.uow.links_many(ONEC_BANK_ACCOUNT, keys)
        for number, fields in self.desired.bank_details.items():
            key = f"{self.entity_id}/{number}"
            link = links.get((key, "bankdetail"))
            detail = await self._bank_detail(requisite_id, fields, link, pushed_all.get(number))
            await self.uow.save_link(ONEC_BANK_ACCOUNT, key, "bankdetail", detail.id)
        for number in set(pushed_all) - set(self.desired.bank_details):  # account closed in 1C
            key = f"{self.entity_id}/{number}"
            link = links.get((key, "bankdetail"))
            if link is not None:
                try:
                    await self.b24.call("crm.requisite.bankdetail.delete", {"id": link.b24_id})
                except B24NotFound:
                    pass
                await self.uow.drop_link(ONEC_BANK_ACCOUNT, key, "bankdetail")

    async def _bank_detail(self, requisite_id: int, fields: dict[str, str], link: Link | None,
                           pushed: dict[str, str] | None) -> Keyed:
        """One bank account: the linked detail, else found by XML_ID on the requisite, else created."""

        async def refresh(detail_id: int) -> None:
            changes = field_changes(fields, pushed)
            if changes:
                await self.b24.call("crm.requisite.bankdetail.update", {"id": detail_id, "fields": changes})

        async def find() -> int | None:
            if ("requisite", requisite_id) in self.created:  # a new requisite holds no bank details yet
                return None
            found = await self.b24.call("crm.requisite.bankdetail.list", {
                "filter": {"ENTITY_ID": requisite_id, "XML_ID": fields["XML_ID"]}, "select": ["ID"]})
            return int(found[0]["ID"]) if found else None

        async def update(detail_id: int) -> None:
            await self.b24.call("crm.requisite.bankdetail.update", {"id": detail_id, "fields": dict(fields)})

        async def create() -> int:
            return int(await self.b24.call("crm.requisite.bankdetail.add", {
                "fields": {"ENTITY_ID": requisite_id, "COUNTRY_ID": 1, **fields}}))

        return await find_or_create(
            b24_type="bankdetail", entity_id=self.entity_id, linked=link.b24_id if link is not None else None,
            refresh=refresh, find=find, update=update, create=create)

    # --- contact persons ----------------------------------------------------------------------------------

    async def contacts(self, company_id: int) -> None:
        pushed_all = self.pushed.get("contacts") or {}
        links = await self.uow.links_many(ONEC_CONTACT_PERSON, list(self.desired.contacts))  # contact + requisite
        for person_id, state in self.desired.contacts.items():
            link = links.get((person_id, "contact"))
            pushed = pushed_all.get(person_id) if link is not None else None
            contact_id = (await self._person("contact", state, link, pushed, {
                "ASSIGNED_BY_ID": str(self.mapping.default_responsible_id)})).id
            if pushed is None or self.fresh:  # newly made or found, or a new company: link it (false = linked)
                await self.b24.call("crm.contact.company.add", {"id": contact_id, "fields": {"COMPANY_ID": company_id}})
            await self.uow.save_link(ONEC_CONTACT_PERSON, person_id, "contact", contact_id)
            if state.city and (pushed is None or pushed.get("city") != state.city):
                await self._contact_city(person_id, contact_id, state.city, links.get((person_id, "requisite")),
                                         pushed.get("city") if pushed else None)

    async def _contact_city(self, person_id: str, contact_id: int, city: str, link: Link | None,
                            pushed_city: str | None) -> None:
        """A contact person's city, on the actual address of the contact's address-only requisite."""
        desired = domain.address_only_requisite(person_id, originator=self.desired.main.fields["ORIGINATOR_ID"],
                                                presets=self.mapping.requisite_presets)
        requisite_id, fresh = await self._ensure_requisite(domain.REQUISITE_OWNER_CONTACT, contact_id, desired,
                                                           link, desired if link is not None else None)
        await self.uow.save_link(ONEC_CONTACT_PERSON, person_id, "requisite", requisite_id)
        pushed = {str(domain.ADDRESS_ACTUAL): {"CITY": pushed_city}} if pushed_city else {}
        await self._addresses(requisite_id, {domain.ADDRESS_ACTUAL: {"CITY": city}}, pushed, fresh)

    # --- deletion mark ------------------------------------------------------------------------------------

    async def deletion_mark(self, owner_id: int) -> None:
        if not self.desired.deleted or self.pushed.get("deleted") or self.mapping.deleted_counterparty != "comment":
            return
        await self.b24.call("crm.timeline.comment.add", {"fields": {
            "ENTITY_ID": owner_id, "ENTITY_TYPE": self.desired.kind,
            "COMMENT": "Контрагент помечен на удаление в 1С. Запись в Битрикс24 оставлена; "
                       "история и сделки сохранены."}})
