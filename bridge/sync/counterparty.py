"""Apply a counterparty snapshot to Bitrix24, exactly once in effect.

Under the counterparty's lease (bridge.links: two short transactions, none open during a Bitrix24
call): skip the event if the inbox
has it or the link holds a newer version; compute the desired state (pure); then, for every Bitrix24
object, find it (link → external-key look-up → create) and send only what 1C changed since the last push;
finally save links, the pushed state and the inbox row, and commit.  A crash after a Bitrix24 call and
before the commit is harmless: the redelivered event finds what was created by its external key.

Look-ups cost what they must and no more: companies and contacts are looked up by ``ORIGIN_ID`` together
with the look-ups of concurrent events (one IN-filtered list command for up to 50), and the children of
an object this event has just created (its requisite, the requisite's bank details) are not looked up at
all, because a new object holds nothing yet.  And a new object is made with what it holds in one chained
request: a company with its requisite, bank details, addresses (and, without contact matching, its contact
persons); a contact person, after its look-ups, with its tie to the company, its requisite and address.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import asyncpg

from onec_outbox.contract import CounterpartyEvent

from .. import topology
from ..b24 import B24, chain_ref
from ..b24.limits import MAX_BATCH_COMMANDS
from ..b24.lookup import KeyLookup
from ..b24.query import Unencodable
from ..consumer import Outcome
from ..domain import counterparty as domain
from ..domain.diff import field_changes, multifield_changes, owned_changes, unconfirmed
from ..errors import B24NotFound, B24ValidationError
from ..links import Link, UnitOfWork, unit_of_work
from ..mapping import Mapping
from . import guards, owned
from .keyed import How, Keyed, find_or_create
from .matching import Matcher

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
        self._matcher = Matcher(b24, pool, mapping)  # records managers typed: found before creating

    def _lookup(self, kind: str, originator: str) -> KeyLookup:
        """One shared look-up per kind and originator, so concurrent events ask together."""
        if (kind, originator) not in self._lookups:
            self._lookups[(kind, originator)] = KeyLookup(
                self._b24, f"crm.{kind}.list", key="ORIGIN_ID", select=[], id_field="ID",
                base_filter={"ORIGINATOR_ID": originator},
                # companies shared between 1C bases: another process's creation must be seen (no pre-read)
                preread="{source}" in self._mapping.originator_id)
        return self._lookups[(kind, originator)]

    async def _preread_decisions(self, uow: UnitOfWork, main: Link | None, desired: domain.CounterpartyState,
                                 entity_id: str) -> None:
        """Operators' decisions on what this push may match (an owner or contact person met for the first
        time), read in the first transaction so that matching costs no transaction of its own."""
        if main is None:
            await self._matcher.preread(uow, ONEC_COUNTERPARTY, [entity_id])
        linked = await uow.links_many(ONEC_CONTACT_PERSON, list(desired.contacts))  # prefetched: no statement
        await self._matcher.preread(uow, ONEC_CONTACT_PERSON, [
            person.fields["ORIGIN_ID"] for p, person in desired.contacts.items() if (p, "contact") not in linked])

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
            # the links the push reads later, read now (still in the first transaction): the bank
            # accounts (new and closed) and the contact persons
            accounts = {*desired.bank_details, *((pushed or {}).get("bank_details") or {})}
            await uow.prefetch(ONEC_BANK_ACCOUNT, [f"{entity_id}/{n}" for n in accounts])
            await uow.prefetch(ONEC_CONTACT_PERSON, list(desired.contacts))
            await self._preread_decisions(uow, main, desired, entity_id)
            await uow.begin_push(main, _pending(pushed or {}, state))  # commits: no connection held from here
            apply = _Apply(self._b24, uow, self._mapping, entity_id, desired, pushed or {}, self._lookup)
            apply.matcher, apply.source = self._matcher, event.source
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


_MULTI = ("PHONE", "EMAIL")


def _sent(person: dict[str, Any] | None, key: str, more: list[str] | None) -> list[str]:
    """Every phone (or e-mail) the bridge may have written for a person: the last confirmed push's, those
    an earlier push that died may have written (``<KEY>_MAYBE``), and ``more``."""
    person = person or {}
    return list(dict.fromkeys([*(person.get(key) or []), *(person.get(f"{key}_MAYBE") or []), *(more or [])]))


def _unconfirmed(pushed: dict[str, Any], pending: dict[str, Any]) -> dict[str, Any]:
    """The diff base after a push that died half-way (``pending``: the fields it meant to write): every
    field, phone, e-mail, address and bank account is sent again (and a field only the old or the failed
    push had is still cleared, an account only the old one had deleted); the deletion comment is not added
    twice.  Phones and e-mails are read from Bitrix24 again (``None``), and those the bridge may have
    written (``<KEY>_MAYBE``) are still deleted when 1C no longer has them — a manager's own stay."""
    def person(p: dict[str, Any], fields: dict[str, Any] | None = None,
               multi: dict[str, Any] | None = None) -> dict[str, Any]:
        return {**p, "fields": unconfirmed(p.get("fields"), fields), "city": None,
                **{k: None for k in _MULTI}, **{f"{k}_MAYBE": _sent(p, k, (multi or {}).get(k)) for k in _MULTI}}

    return {**pushed, "main": person(pushed["main"], pending.get("main"), pending.get("multi"))
            if pushed.get("main") else None,
            "requisite": unconfirmed(pushed.get("requisite"), pending.get("requisite")),
            "addresses": {t: unconfirmed(a) for t, a in (pushed.get("addresses") or {}).items()},
            "bank_details": {n: unconfirmed(b) for n, b in (pushed.get("bank_details") or {}).items()},
            "contacts": {k: person(c, None, (pending.get("contacts_multi") or {}).get(k))
                         for k, c in (pushed.get("contacts") or {}).items()}}


def _pending(base: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The owner's and requisite's fields this push may set (with those a failed push may have set), and
    the phones and e-mails of the owner and of each contact person it may write (with those earlier pushes
    may have written)."""
    main, contacts = base.get("main") or {}, base.get("contacts") or {}
    return {"main": {**(main.get("fields") or {}), **state["main"]["fields"]},
            "requisite": {**(base.get("requisite") or {}), **(state["requisite"] or {})},
            "multi": {k: _sent(main, k, state["main"][k]) for k in _MULTI},
            "contacts_multi": {pid: {k: _sent(contacts.get(pid), k, person[k]) for k in _MULTI}
                               for pid, person in (state.get("contacts") or {}).items()}}


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


def _new_person_fields(state: domain.PersonState, extra: dict[str, str]) -> dict[str, Any]:
    """The fields of a new company or contact, with its phones and e-mails."""
    fields: dict[str, Any] = {**extra, **state.fields}
    if state.phones:
        fields["PHONE"] = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in state.phones]
    if state.emails:
        fields["EMAIL"] = [{"VALUE": v, "VALUE_TYPE": "WORK"} for v in state.emails]
    return fields


@dataclass
class _Tree:
    """The ids a new owner's chained creation returned: its requisite, bank details (by account number)
    and contact persons (→ contact id, address-only requisite id or None)."""

    requisite: int
    bank_details: dict[str, int] = field(default_factory=dict)
    contacts: dict[str, tuple[int, int | None]] = field(default_factory=dict)


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
        self.tree: _Tree | None = None  # what the owner's chained creation made with it (see _create_tree)
        self.persons_made: dict[str, tuple[int, int | None]] = {}  # contact persons made after it (_create_person)
        self.matcher: Matcher | None = None
        self.source = ""
        self.adopted: set[tuple[str, int]] = set()  # (kind, id) a manager made, found by matching: adopted
        self.matched_requisites: dict[int, int] = {}  # adopted company → the requisite that matched it

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
                      extra: dict[str, str], create_with: Callable[[], Awaitable[int]] | None = None) -> Keyed:
        """A company or contact: the linked one, else found by ORIGINATOR_ID + ORIGIN_ID, else created
        (by ``create_with`` when given); a found one is brought up to date."""

        async def find() -> int | None:
            found = await self.lookup(kind, state.fields["ORIGINATOR_ID"]).find(state.fields["ORIGIN_ID"])
            return int(found[0]["ID"]) if found else await self._match(kind, state)

        async def update(b24_id: int) -> None:
            if (kind, b24_id) in self.adopted:
                await self.matcher.adopt_person(kind, b24_id, state)
            else:
                await self._update_person(kind, b24_id, state, None)

        async def create() -> int:
            fields = _new_person_fields(state, extra)
            if state is self.desired.main:  # the owner: made with everything it holds, in one request
                b24_id = await self._create_tree(kind, fields)
            elif create_with is not None:
                b24_id = await create_with()
            else:
                b24_id = int(await self.b24.call(f"crm.{kind}.add", {"fields": fields}))
            self.created.add((kind, b24_id))
            return b24_id

        return await find_or_create(
            b24_type=kind, entity_id=self.entity_id, linked=link.b24_id if link is not None else None,
            refresh=lambda b24_id: self._update_person(kind, b24_id, state, pushed), find=find,
            update=update, create=create)

    async def _match(self, kind: str, state: domain.PersonState) -> int | None:
        """No record carries our key: one a manager typed (bridge/sync/matching.py), adopted, else None."""
        if self.matcher is None:
            return None
        originator = state.fields["ORIGINATOR_ID"]
        if kind == "company":
            found = await self.matcher.company(source=self.source, originator=originator, entity_id=self.entity_id,
                                               title=state.fields.get("TITLE", ""), requisite=self.desired.requisite)
        else:
            main = state is self.desired.main
            found = await self.matcher.contact(source=self.source, originator=originator,
                                               onec_type=ONEC_COUNTERPARTY if main else ONEC_CONTACT_PERSON,
                                               onec_id=state.fields["ORIGIN_ID"], person=state)
        if found is None:
            return None
        self.adopted.add((kind, found.id))
        if found.requisite_id is not None:
            self.matched_requisites[found.id] = found.requisite_id
        return found.id

    async def _create_tree(self, kind: str, fields: dict[str, Any]) -> int:
        """A new owner with its requisite, bank details, addresses and (a company) the contact persons no
        one made yet, in one chained batch: later commands refer to the ids of earlier ones
        (``$result[…]``), so a new counterparty costs one round trip instead of one per object.  If a
        step fails, the steps before it took effect: the redelivered event finds the owner by its key
        and brings the rest up to date the usual way."""
        desired = self.desired
        owner_type = domain.REQUISITE_OWNER_COMPANY if kind == "company" else domain.REQUISITE_OWNER_CONTACT
        steps: list[tuple[str, dict[str, Any]]] = [
            (f"crm.{kind}.add", {"fields": fields}),
            ("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": owner_type, "ENTITY_ID": chain_ref(0),
                                              **desired.requisite}})]
        details = list(desired.bank_details)
        steps += [("crm.requisite.bankdetail.add", {"fields": {"ENTITY_ID": chain_ref(1), "COUNTRY_ID": 1,
                                                                 **desired.bank_details[n]}}) for n in details]
        steps += [("crm.address.add", {"fields": {**f, "TYPE_ID": t, "ENTITY_TYPE_ID": 8, "ENTITY_ID": chain_ref(1)}})
                  for t, f in desired.addresses.items()]
        if len(steps) > MAX_BATCH_COMMANDS:  # more than one request holds: the owner alone, the rest as usual
            return int(await self.b24.call(f"crm.{kind}.add", {"fields": fields}))
        people: dict[str, tuple[int, int | None]] = {}  # contact person → (its contact's step, its requisite's)
        # contact persons ride the chain only when they are never matched against what managers typed:
        # otherwise each goes the usual way after it (its phone/e-mail looked for first)
        chained = kind == "company" and not self._contacts_matched()
        for person_id, state in (await self._unmade_contacts() if chained else {}).items():
            person_steps, requisite = self._person_steps(person_id, state, chain_ref(0), len(steps))
            if len(steps) + len(person_steps) > MAX_BATCH_COMMANDS:
                break  # the others the usual way, after the chain
            people[person_id] = (len(steps), requisite)
            steps += person_steps
        results = await self.b24.call_chain(steps)
        self.tree = _Tree(
            requisite=int(results[1]),
            bank_details={n: int(results[2 + i]) for i, n in enumerate(details)},
            contacts={p: (int(results[c]), int(results[r]) if r is not None else None) for p, (c, r) in people.items()})
        self.created.add(("requisite", self.tree.requisite))
        return int(results[0])

    def _person_steps(self, person_id: str, state: domain.PersonState, company_id: int | str,
                      start: int) -> tuple[list[tuple[str, dict[str, Any]]], int | None]:
        """A new contact person as chain steps from step ``start`` on: the contact, tied to its company
        (``company_id`` may be a chain reference), and with a city its address-only requisite and address;
        and the requisite's step (None without a city)."""
        steps: list[tuple[str, dict[str, Any]]] = [
            ("crm.contact.add", {"fields": _new_person_fields(state, self._contact_extra())}),
            ("crm.contact.company.add", {"id": chain_ref(start), "fields": {"COMPANY_ID": company_id}})]
        if not state.city:
            return steps, None
        steps += [("crm.requisite.add", {"fields": {
                      "ENTITY_TYPE_ID": domain.REQUISITE_OWNER_CONTACT, "ENTITY_ID": chain_ref(start),
                      **self._city_requisite(person_id)}}),
                  ("crm.address.add", {"fields": {"CITY": state.city, "TYPE_ID": domain.ADDRESS_ACTUAL,
                                                  "ENTITY_TYPE_ID": 8, "ENTITY_ID": chain_ref(start + 2)}})]
        return steps, start + 2

    async def _create_person(self, person_id: str, state: domain.PersonState, company_id: int) -> int:
        """A contact person no one made yet (after its look-ups), with everything it holds, in one request
        (see :meth:`_person_steps`); what it made goes to ``self.persons_made`` for :meth:`contacts` to link."""
        steps, requisite = self._person_steps(person_id, state, company_id, 0)
        try:
            results = await self.b24.call_chain(steps)
        except Unencodable:  # a value no batch command can carry: the contact alone, the rest the usual way
            return int(await self.b24.call(*steps[0]))
        self.persons_made[person_id] = (int(results[0]), int(results[requisite]) if requisite is not None else None)
        return int(results[0])

    def _contacts_matched(self) -> bool:
        return self.matcher is not None and any(step != "key" for step in self.matcher.settings.contact)

    async def _unmade_contacts(self) -> dict[str, domain.PersonState]:
        """The contact persons neither linked nor found by their key (asked together: one look-up)."""
        links = await self.uow.links_many(ONEC_CONTACT_PERSON, list(self.desired.contacts))
        unlinked = [p for p in self.desired.contacts if (p, "contact") not in links]
        found = await asyncio.gather(*(
            self.lookup("contact", self.desired.contacts[p].fields["ORIGINATOR_ID"]).find(
                self.desired.contacts[p].fields["ORIGIN_ID"]) for p in unlinked))
        return {p: self.desired.contacts[p] for p, rows in zip(unlinked, found, strict=True) if not rows}

    def _contact_extra(self) -> dict[str, str]:
        return {"ASSIGNED_BY_ID": str(self.mapping.default_responsible_id)}

    def _city_requisite(self, person_id: str) -> dict[str, str]:
        return domain.address_only_requisite(person_id, originator=self.desired.main.fields["ORIGINATOR_ID"],
                                             presets=self.mapping.requisite_presets)

    async def _update_person(self, kind: str, b24_id: int, state: domain.PersonState, pushed: dict | None) -> None:
        """Fields 1C owns (all of them when 1C changed one: a manager's edit is put back; create-only ones
        never), and phones/e-mails item by item."""
        pushed_fields = (pushed or {}).get("fields") if pushed else None
        fields: dict[str, Any] = owned_changes(state.fields, pushed_fields, self.mapping.create_only(kind))
        multi = {"PHONE": state.phones, "EMAIL": state.emails}
        current = None
        if pushed is None or any(pushed.get(k) is None or list(multi[k]) != list(pushed[k]) for k in multi):
            current = await self.b24.call(f"crm.{kind}.get", {"id": b24_id})
            for key, values in multi.items():
                sent = pushed.get(key) if pushed and pushed.get(key) is not None else (pushed or {}).get(f"{key}_MAYBE")
                ops = multifield_changes(key, current.get(key) or [], sent, values)
                if ops:
                    fields[key] = ops
        if fields:
            await owned.update(self.b24, entity=kind, b24_id=b24_id, entity_id=state.fields.get("ORIGIN_ID", ""),
                               fields=fields, pushed=pushed_fields, method=f"crm.{kind}.update", current=current,
                               read=(f"crm.{kind}.list", {"filter": {"ID": b24_id}, "select": sorted(fields)}))

    # --- requisite, its addresses and bank details --------------------------------------------------------

    async def requisite_tree(self, owner_id: int, link: Link | None) -> None:
        owner_type = domain.REQUISITE_OWNER_COMPANY if self.desired.kind == "company" else domain.REQUISITE_OWNER_CONTACT
        if self.fresh:
            link = None
        if self.tree is not None:  # made with the owner, with its addresses and bank details
            requisite_id, fresh = self.tree.requisite, True
        else:
            requisite_id, fresh = await self._ensure_requisite(owner_type, owner_id, self.desired.requisite, link,
                                                               self.pushed.get("requisite"))
        self.fresh = self.fresh or fresh  # a new requisite holds none of the old bank details or addresses
        await self.uow.save_link(ONEC_COUNTERPARTY, self.entity_id, "requisite", requisite_id)
        if self.tree is None:
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
            if found:
                return int(found[0]["ID"])
            matched = self.matched_requisites.get(owner_id) if (owner_kind, owner_id) in self.adopted else None
            if matched is not None:  # the requisite the adopted company was found by: adopted with it
                self.adopted.add(("requisite", matched))
            return matched

        async def update(requisite_id: int) -> None:
            if ("requisite", requisite_id) in self.adopted:
                await self.matcher.adopt_requisite(requisite_id, desired)
                return
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
            chained = self.tree.bank_details.get(number) if self.tree is not None else None  # with the company
            detail_id = chained if chained is not None else (
                await self._bank_detail(requisite_id, fields, link, pushed_all.get(number))).id
            await self.uow.save_link(ONEC_BANK_ACCOUNT, key, "bankdetail", detail_id)
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
            if not found and ("requisite", requisite_id) in self.adopted and fields.get("RQ_ACC_NUM"):
                # an adopted requisite: the account a manager (or another 1C base) entered is this one
                found = await self.b24.call("crm.requisite.bankdetail.list", {
                    "filter": {"ENTITY_ID": requisite_id, "RQ_ACC_NUM": fields["RQ_ACC_NUM"]}, "select": ["ID"]})
                if found:
                    self.adopted.add(("bankdetail", int(found[0]["ID"])))
            return int(found[0]["ID"]) if found else None

        async def update(detail_id: int) -> None:
            if ("bankdetail", detail_id) in self.adopted:
                await self.matcher.adopt_bank_detail(detail_id, fields)
                return
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
            chained = self.tree.contacts.get(person_id) if self.tree is not None else None  # with the company
            if chained is None:
                link = links.get((person_id, "contact"))
                pushed = pushed_all.get(person_id) if link is not None else None
                person = await self._person("contact", state, link, pushed, self._contact_extra(),
                                            create_with=partial(self._create_person, person_id, state, company_id))
                contact_id = person.id
                if person.relinked:  # its linked contact was deleted by hand: this one holds nothing yet
                    pushed = None
                chained = self.persons_made.get(person_id)  # made just now, with everything it holds
                if chained is None:  # linked, found, or made alone
                    if pushed is None or self.fresh:  # new to this company: tie it (false = tied)
                        await self.b24.call("crm.contact.company.add",
                                            {"id": contact_id, "fields": {"COMPANY_ID": company_id}})
                    await self.uow.save_link(ONEC_CONTACT_PERSON, person_id, "contact", contact_id)
                    if state.city and (pushed is None or pushed.get("city") != state.city):
                        await self._contact_city(person_id, contact_id, state.city, links.get((person_id, "requisite")),
                                                 pushed.get("city") if pushed else None)
                    continue
            contact_id, requisite_id = chained
            await self.uow.save_link(ONEC_CONTACT_PERSON, person_id, "contact", contact_id)
            if requisite_id is not None:
                await self.uow.save_link(ONEC_CONTACT_PERSON, person_id, "requisite", requisite_id)

    async def _contact_city(self, person_id: str, contact_id: int, city: str, link: Link | None,
                            pushed_city: str | None) -> None:
        """A contact person's city, on the actual address of the contact's address-only requisite."""
        desired = self._city_requisite(person_id)
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
