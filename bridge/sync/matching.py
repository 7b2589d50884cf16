"""Find a record a manager already typed into Bitrix24 before creating one: the look-ups and the adoption.

Called from the ``find`` step of :func:`bridge.sync.keyed.find_or_create` only when the bridge's own key
found nothing (the first contact with a 1C object), so updates of a linked record never cost a call here.
The rules that judge the candidates are pure (``bridge/domain/matching.py``); this module asks Bitrix24,
remembers the operator's decisions (``bridge/review.py``) and writes our key on an adopted record.

* a 1C object parked and still open: :class:`NeedsReview` again at once (no Bitrix24 call): the consumer
  stores the newer event in place of the older one;
* resolved: the operator's pick is adopted, or (``create``) nothing is found and the handler creates;
* otherwise the steps of the mapping (``matching:``) in order: one strong candidate is adopted; several,
  or one weak one, raise :class:`NeedsReview`.

A record that carries the bridge's key for another 1C object of the same base (``ORIGINATOR_ID`` = our
originator, a product key ``1c-…``) is never a candidate: it is that object's.  A company keyed by another
1C base is (several bases, one portal): it is linked, and keeps that base's key.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg

from ..b24 import B24
from ..b24.envelope import items_of
from ..b24.lookup import KeyLookup
from ..domain import matching as rules
from ..domain.counterparty import PersonState
from ..domain.diff import multifield_changes
from ..errors import B24Error, NeedsReview
from ..links import UnitOfWork
from ..mapping import Mapping
from ..review import CREATE, Decision, ReviewStore

log = logging.getLogger(__name__)

COMPANY_KEY = ("ORIGINATOR_ID", "ORIGIN_ID")
REQUISITE_KEY = ("XML_ID",)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
PREREAD_LIMIT = 10_000
_CONTACT_SELECT = ["ID", "NAME", "LAST_NAME", "SECOND_NAME", "ORIGINATOR_ID", "ORIGIN_ID"]


@dataclass(frozen=True)
class Found:
    """An existing record to adopt: its id and, for a company found by requisite, that requisite."""

    id: int
    requisite_id: int | None = None
    picked: bool = False  # an operator's pick rather than a rule's


def full_name(fields: dict[str, Any]) -> str:
    """«Фамилия Имя Отчество» of a contact's fields, the empty parts left out."""
    return " ".join(str(fields[k]) for k in ("LAST_NAME", "NAME", "SECOND_NAME") if fields.get(k))


def _bridge_product_key(xml: Any) -> bool:
    """Does a product's XML_ID say the bridge (or 1C's own exchange) made it for some 1C product?"""
    text = str(xml or "").strip()
    return text.startswith("1c-") or bool(_UUID.match(text))


class Matcher:
    """One per handler: the look-ups by the mapping's steps, and the review decisions."""

    def __init__(self, b24: B24, pool: asyncpg.Pool, mapping: Mapping) -> None:
        self.b24 = b24
        self.settings = mapping.matching
        self.review = ReviewStore(pool)
        self._lookups: dict[tuple, KeyLookup] = {}
        self._preread: dict[tuple[str, str, str], Decision | None] = {}  # see preread()

    def _lookup(self, method: str, key: str, select: list[str], base: dict[str, Any], id_field: str,
                in_prefix: str, *, preread: bool = False, index_from: KeyLookup | None = None,
                recheck_absent: bool = True) -> KeyLookup:
        """One shared look-up per list and field, so the first contacts of an initial load ask together
        (one IN-filtered list for up to 50 of them) instead of one list each.

        ``preread``: may a bulk load answer "absent" from the portal's records read once
        (bridge/b24/lookup.py)?  Not for companies: another 1C base's company made since is a candidate and
        must be seen.  Products are safe: one with a bridge key (any base's) is never a candidate, so only a
        manager typing one during the pre-read's life (BRIDGE_B24_PREREAD_TTL) goes unseen, the window the
        key look-up has too.  ``index_from``: the key look-up of the same list, whose pre-read also read
        the fields matched here (see :meth:`product_fields`); ``recheck_absent``: see KeyLookup."""
        ident = (method, key, tuple(sorted(base.items())))
        if ident not in self._lookups:
            self._lookups[ident] = KeyLookup(self.b24, method, key=key, select=select, base_filter=base,
                                             id_field=id_field, in_prefix=in_prefix, preread=preread,
                                             index_from=index_from, recheck_absent=recheck_absent)
        return self._lookups[ident]

    # --- the decision of an operator, if any ----------------------------------------------------------------

    async def preread(self, uow: UnitOfWork, onec_type: str, onec_ids: Iterable[str]) -> None:
        """Read the operators' decisions on 1C objects this push may match, in the unit of work's first
        transaction (called before ``begin_push``), so matching costs no transaction of its own.  Each is
        used once, by the look-up that follows under the same lease."""
        if len(self._preread) > PREREAD_LIMIT:  # entries of objects found by their key are never used
            self._preread.clear()
        conn = await uow.connection()
        for onec_id in onec_ids:
            self._preread[(uow.source, onec_type, onec_id)] = await self.review.decision(
                uow.source, onec_type, onec_id, conn)

    async def _decided(self, source: str, onec_type: str, onec_id: str, what: str,
                       exists: Callable[[int], Awaitable[bool]]) -> Found | None | bool:
        """The operator's pick (Found), ``None`` for "create new", ``False`` when never parked or when the
        picked record is gone from Bitrix24 (``exists``: deleted or merged away since the decision; adopting
        it would fail on every event of the object for good, so it is matched again, and parked again with
        the candidates there are now if that is still ambiguous); an open item raises NeedsReview again (the
        newer event replaces the stored one)."""
        key = (source, onec_type, onec_id)
        if key in self._preread:
            decision = self._preread.pop(key)
        else:
            decision = await self.review.decision(source, onec_type, onec_id)
        if decision is None:
            return False
        if decision.open:
            raise NeedsReview(f"{what}: waiting for an operator's decision (review item {decision.item_id})",
                              onec_type=onec_type, onec_id=onec_id, reason=decision.reason or rules.SEVERAL)
        if decision.decision == CREATE:
            return None
        target = int(decision.target_id)
        if not await exists(target):
            log.warning("the record an operator picked is gone from Bitrix24; matching again", extra={
                "action": "matching.pick_gone", "onec_type": onec_type, "onec_id": onec_id, "b24_id": target,
                "review_item": decision.item_id})
            return False
        return Found(target, picked=True)

    async def _listed(self, method: str, filter_: dict[str, Any], select: list[str]) -> bool:
        """Is the record still in Bitrix24?  A list filtered by its id: empty when it is gone."""
        return bool(items_of(await self.b24.call(method, {"filter": filter_, "select": select}), method))

    async def _judge(self, steps: list[list[rules.Candidate]], *, onec_type: str, onec_id: str, what: str,
                     titles: dict[int, str] | Callable[[list[int]], Awaitable[dict[int, str]]]) -> Found | None:
        """Adopt, create (None) or park.  A parked item names its candidates as Bitrix24 shows them
        (``titles`` by id: those the look-ups read, or how to read them), so an operator can tell «Клиент»
        from «Клиент (дубль)» without opening each record."""
        match = rules.decide(steps, park_single=self.settings.park_single)
        if match.verdict is rules.Verdict.CREATE:
            return None
        if match.verdict is rules.Verdict.PARK:
            named = titles if isinstance(titles, dict) else await titles([c.id for c in match.candidates])
            ids = ", ".join(str(c.id) for c in match.candidates)
            summary = f"{what}: " + "; ".join(  # (a title match's note names the title already)
                f"#{c.id}{f' «{named[c.id]}»' if named.get(c.id) and named[c.id] not in c.note else ''} ({c.note})"
                for c in match.candidates)
            raise NeedsReview(f"{what}: {'several' if match.reason == rules.SEVERAL else 'only a weak'} "
                              f"candidate(s) in Bitrix24 ({ids}); an operator picks",
                              onec_type=onec_type, onec_id=onec_id, reason=match.reason or rules.SEVERAL,
                              candidates=[{**c.as_json(), "title": named.get(c.id)} for c in match.candidates],
                              summary=summary)
        target = match.target
        log.info("existing Bitrix24 record adopted", extra={
            "action": "matching.adopt", "onec_type": onec_type, "onec_id": onec_id, "b24_id": target.id,
            "step": target.step})
        return Found(target.id, target.requisite_id)

    # --- companies ----------------------------------------------------------------------------------------

    async def company(self, *, source: str, originator: str, entity_id: str, title: str,
                      requisite: dict[str, str]) -> Found | None:
        """The company a manager entered for this counterparty, or None (create one)."""
        what = f"компания «{title}»"
        decided = await self._decided(source, "counterparty", entity_id, what,
                                      lambda i: self._listed("crm.company.list", {"ID": i}, ["ID"]))
        if decided is not False:
            return decided  # type: ignore[return-value]
        inn = rules.digits(requisite.get("RQ_INN"))
        if not inn:
            return None  # nothing to match a company on but its name: too weak to even ask
        kpp = requisite.get("RQ_KPP")
        steps: list[list[rules.Candidate]] = []
        names: dict[int, str] = {}  # titles the look-ups read (a requisite does not carry its company's)
        for step in self.settings.steps("company"):
            if step == "requisite":
                rows = await self._lookup(
                    "crm.requisite.list", "RQ_INN", ["ENTITY_TYPE_ID", "ENTITY_ID", "RQ_KPP", "ORIGINATOR_ID", "XML_ID"],
                    {"ENTITY_TYPE_ID": 4}, "ID", "@").find(inn)
                rows = [r for r in rows if str(r.get("ORIGINATOR_ID") or "") != originator]
                found = rules.requisite_candidates(rows, inn=inn, kpp=kpp)
            elif step == "user_field":
                field_name = self.settings.company_inn_field
                rows = await self._companies({field_name: inn}, [field_name, "TITLE"], originator)
                found = rules.user_field_candidates(rows, inn=inn, field_name=field_name)
                names.update((int(r["ID"]), str(r.get("TITLE") or "")) for r in rows)
            else:  # title
                rows = await self._companies({"%TITLE": inn}, ["TITLE"], originator)
                found = rules.title_candidates(rows, inn=inn)
                names.update((int(r["ID"]), str(r.get("TITLE") or "")) for r in rows)
            steps.append(found)
            if found:
                break
        what = f"компания «{title}» (ИНН {inn}{', КПП ' + kpp if kpp else ''})"
        return await self._judge(steps, onec_type="counterparty", onec_id=entity_id, what=what,
                                 titles=lambda ids: self._company_titles(ids, names))

    async def _company_titles(self, ids: list[int], known: dict[int, str]) -> dict[int, str]:
        """The candidates' titles: those the look-ups read, the others in one list (found by requisite).  Only
        for the summary of a parked item: a failure to read them leaves the ids alone."""
        if all(i in known for i in ids):
            return known
        try:
            rows = await self._all("crm.company.list", {"filter": {"@ID": ids}, "select": ["ID", "TITLE"],
                                                        "order": {"ID": "ASC"}})
        except B24Error as exc:
            log.warning("could not read the candidates' titles", extra={
                "action": "matching.titles_failed", "b24_ids": ids, "error": f"{type(exc).__name__}: {exc}"})
            return {}
        return {**known, **{int(r["ID"]): str(r.get("TITLE") or "") for r in rows}}

    async def _companies(self, filter_: dict[str, Any], select: list[str], originator: str) -> list[dict]:
        rows = await self._all("crm.company.list", {"filter": filter_, "select": ["ID", "ORIGINATOR_ID", *select],
                                                    "order": {"ID": "ASC"}})
        return [r for r in rows if str(r.get("ORIGINATOR_ID") or "") != originator]

    # --- contacts -----------------------------------------------------------------------------------------

    async def contact(self, *, source: str, originator: str, onec_type: str, onec_id: str,
                      person: PersonState) -> Found | None:
        """The contact a manager entered for this person (same phone or e-mail and the same name)."""
        name = full_name(person.fields)
        what = f"контакт «{name}»"
        decided = await self._decided(source, onec_type, onec_id, what,
                                      lambda i: self._listed("crm.contact.list", {"ID": i}, ["ID"]))
        if decided is not False:
            return decided  # type: ignore[return-value]
        steps: list[list[rules.Candidate]] = []
        names: dict[int, str] = {}
        if "phone_email" in self.settings.steps("contact") and (person.phones or person.emails):
            ids: list[int] = []
            for kind, values in (("PHONE", person.phones), ("EMAIL", person.emails)):
                if not values:
                    continue
                found = await self.b24.call("crm.duplicate.findbycomm", {
                    "type": kind, "values": list(values)[:20], "entity_type": "CONTACT"})
                for contact_id in (found or {}).get("CONTACT", []) if isinstance(found, dict) else []:
                    if int(contact_id) not in ids:
                        ids.append(int(contact_id))
            rows: list[dict] = []
            if ids:
                rows = await self._all("crm.contact.list", {"filter": {"@ID": ids}, "select": _CONTACT_SELECT,
                                                            "order": {"ID": "ASC"}})
                rows = [r for r in rows if str(r.get("ORIGINATOR_ID") or "") != originator]
            steps.append(rules.contact_candidates(rows, wanted=person.fields))
            names = {int(r["ID"]): full_name(r) for r in rows}
        return await self._judge(steps, onec_type=onec_type, onec_id=onec_id, what=what,
                                 titles=names)

    # --- products -----------------------------------------------------------------------------------------

    def product_fields(self, *, catalog: bool) -> list[str]:
        """The fields product matching reads (name, the article's field): the product key look-up selects
        them too, so a bulk load's one pre-read of the catalogue answers matching as well."""
        name_field, xml_field = ("name", "xmlId") if catalog else ("NAME", "XML_ID")
        fields = [name_field, xml_field]
        if "article" in self.settings.steps("product") and self.settings.product_article_field:
            fields.append(self.settings.product_article_field)
        return fields

    async def product(self, *, source: str, entity_id: str, catalog: bool, iblock: int | None, name: str,
                      article: str | None, key_lookup: KeyLookup | None = None) -> Found | None:
        """The product a manager entered: by article (the mapping's field), then by exact name."""
        what = f"товар «{name}»" + (f" (артикул {article})" if article else "")
        decided = await self._decided(source, "product", entity_id, what, lambda i: (
            self._listed("catalog.product.list", {"iblockId": iblock, "id": i}, ["id", "iblockId"]) if catalog
            else self._listed("crm.product.list", {"ID": i}, ["ID"])))
        if decided is not False:
            return decided  # type: ignore[return-value]
        id_field = "id" if catalog else "ID"
        name_field, xml_field = ("name", "xmlId") if catalog else ("NAME", "XML_ID")
        asked: list[tuple[str, str, str]] = []  # (step, field, value)
        for step in self.settings.steps("product"):
            field_name = self.settings.product_article_field if step == "article" else name_field
            value = article if step == "article" else name
            if value and field_name:
                asked.append((step, field_name, value))

        # a product made since the pre-read by the bridge carries its key and is never a candidate, so a name
        # or article said absent once (names repeat in a catalogue) is absent again: not asked of the portal
        async def rows_of(field_name: str, value: str) -> list[dict[str, Any]]:
            if catalog:
                return await self._lookup("catalog.product.list", field_name, ["iblockId", "name", "xmlId"],
                                          {"iblockId": iblock}, "id", "", preread=True, index_from=key_lookup,
                                          recheck_absent=False).find(value)
            return await self._lookup("crm.product.list", field_name, ["NAME", "XML_ID"], {}, "ID", "",
                                      preread=True, index_from=key_lookup,  # IN: a plain array
                                      recheck_absent=False).find(value)

        # the steps' look-ups ride shared IN-filtered lists: asked together, not one after the other, so a
        # first contact waits for one round trip (the order still decides: the first step with candidates)
        answers = await asyncio.gather(*(rows_of(f, v) for _, f, v in asked))
        steps: list[list[rules.Candidate]] = []
        names: dict[int, str] = {}
        for (step, field_name, value), rows in zip(asked, answers):
            rows = [r for r in rows if not _bridge_product_key(r.get(xml_field))]
            steps.append(rules.product_candidates(rows, step=step, field_name=field_name, value=value,
                                                  id_field=id_field))
            names.update((int(r[id_field]), str(r.get(name_field) or "")) for r in rows)
        return await self._judge(steps, onec_type="product", onec_id=entity_id, what=what,
                                 titles=names)

    # --- adoption -----------------------------------------------------------------------------------------

    @property
    def onec_wins(self) -> bool:
        return self.settings.adopt_fields == "onec_wins"

    async def adopt_person(self, kind: str, b24_id: int, state: PersonState) -> None:
        """Write our key on an adopted company or contact (unless another base's key is there), fill what
        it has empty, and add the phones and e-mails it lacks (its own ones stay)."""
        current = await self.b24.call(f"crm.{kind}.get", {"id": b24_id})
        plan = rules.adoption(state.fields, current, key_fields=COMPANY_KEY, onec_wins=self.onec_wins)
        fields: dict[str, Any] = dict(plan.fields)
        for key, values in (("PHONE", state.phones), ("EMAIL", state.emails)):
            ops = multifield_changes(key, current.get(key) or [], [], values)  # adds only: nothing pushed before
            if ops:
                fields[key] = ops
        if fields:
            await self.b24.call(f"crm.{kind}.update", {"id": b24_id, "fields": fields})

    async def adopt_requisite(self, requisite_id: int, desired: dict[str, str]) -> None:
        current = await self.b24.call("crm.requisite.get", {"id": requisite_id})
        plan = rules.adoption(desired, current, key_fields=REQUISITE_KEY, onec_wins=self.onec_wins)
        fields = {k: v for k, v in plan.fields.items() if k != "PRESET_ID"}  # the manager's preset stays
        if fields:
            await self.b24.call("crm.requisite.update", {"id": requisite_id, "fields": fields})

    async def adopt_bank_detail(self, detail_id: int, desired: dict[str, str]) -> None:
        current = await self.b24.call("crm.requisite.bankdetail.get", {"id": detail_id})
        plan = rules.adoption(desired, current, key_fields=REQUISITE_KEY, onec_wins=self.onec_wins)
        if plan.fields:
            await self.b24.call("crm.requisite.bankdetail.update", {"id": detail_id, "fields": plan.fields})

    async def adoption_of_product(self, method: str, product_id: int, desired: dict[str, str],
                                  *, catalog: bool) -> dict[str, str]:
        """The product fields to send to an adopted product (our key unless another one is there)."""
        current = await self.b24.call(method, {"id": product_id})
        if catalog and isinstance(current, dict) and "product" in current:
            current = current["product"]
        key = ("xmlId",) if catalog else ("XML_ID",)
        plan = rules.adoption(desired, current or {}, key_fields=key, onec_wins=self.onec_wins, key_prefix="1c-")
        return dict(plan.fields)

    # --- paging -------------------------------------------------------------------------------------------

    async def _all(self, method: str, params: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
        """Every row of a list (at most ``limit`` pages: a matching filter that finds more is ambiguous
        whatever the rest holds)."""
        rows: list[dict[str, Any]] = []
        start: int | None = 0
        for _ in range(limit):
            page = await self.b24.call_page(method, {**params, "start": start})
            rows += items_of(page.result, method)
            start = page.next
            if start is None:
                break
        return rows
