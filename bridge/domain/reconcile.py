"""What the bridge believes Bitrix24 holds against what it holds: pure comparisons, no I/O.

``bridge.reconcile`` reads the links (1C object ↔ Bitrix24 id, with the state last pushed), the order
projection and Bitrix24's lists, and hands them here.  Each function returns :class:`Finding` rows:

* ``missing`` — a linked record is gone from Bitrix24 (deleted by hand);
* ``duplicate`` — two records carry one key (``ORIGINATOR_ID`` + ``ORIGIN_ID``, or ``XML_ID``);
* ``twin`` — an unlinked record an operator could adopt: same INN + KPP as a linked company, same key;
* ``drift`` — an owned field differs from what the bridge pushed (a create-only field never drifts);
* ``amount`` — a deal's amount or its product rows' sum is not 1C's to the kopeck;
* ``stage`` — a deal stands in a stage its 1C facts do not call for.

Only ``missing``, ``drift``, ``amount`` and ``stage`` are repairable (the bridge pushes its state again);
duplicates and twins wait for an operator: merging is a decision, never a side effect.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .product import as_stored

ENTITIES = ("company", "contact", "requisite", "product", "deal")
KINDS = ("missing", "duplicate", "twin", "drift", "amount", "stage")
REPAIRABLE = frozenset({"missing", "drift", "amount", "stage"})
CENT = Decimal("0.01")
# fields a comparison skips: keys (they found the record), multi-valued or written by the portal itself
NOT_COMPARED = frozenset({"ID", "ORIGINATOR_ID", "ORIGIN_ID", "XML_ID", "xmlId", "CONTACT_IDS", "IS_MANUAL_OPPORTUNITY",
                          "STAGE_ID", "OPPORTUNITY", "PHONE", "EMAIL"})
# the base price, as the catalog API (basePrice) and the legacy crm.product (PRICE) show it: compared as the
# portal stores it (product.as_stored)
IN_KOPECKS = frozenset({"basePrice", "PRICE"})
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})([T ].*)?$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class Finding:
    entity: str  # company | contact | requisite | product | deal
    kind: str  # see KINDS
    b24_id: int | None
    onec_id: str | None = None
    source: str | None = None
    detail: str = ""
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # field → (1C/bridge, Bitrix24)
    others: tuple[int, ...] = ()  # the other records of a duplicate or the linked record of a twin

    @property
    def repairable(self) -> bool:
        return self.kind in REPAIRABLE

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["fields"] = {k: {"bridge": _plain(a), "bitrix24": _plain(b)} for k, (a, b) in self.fields.items()}
        out["others"] = list(self.others)
        out["repairable"] = self.repairable
        return out


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def comparable(value: Any) -> str:
    """One form for a value as the bridge wrote it and as Bitrix24 reads it back: empty is ``""``, a number
    is its decimal value (``"1200.00"`` = ``1200``), a date-time is its date, ``"12.5|RUB"`` = ``"12.50|RUB"``."""
    if value is None or value is False:
        return ""
    if isinstance(value, (list, tuple)):
        return ",".join(sorted(comparable(v) for v in value))
    text = str(value).strip()
    if "|" in text:
        amount, _, currency = text.partition("|")
        return f"{comparable(amount)}|{currency.strip()}"
    if _NUMBER.match(text):
        try:
            return format(Decimal(text).normalize(), "f")
        except InvalidOperation:
            return text
    date = _DATE.match(text)
    if date:
        return date.group(1)
    return text


def field_drift(want: Mapping[str, Any], have: Mapping[str, Any], *, create_only: Iterable[str] = (),
                skip: Iterable[str] = NOT_COMPARED) -> dict[str, tuple[Any, Any]]:
    """Owned fields whose Bitrix24 value is not the one pushed: field → (pushed, in Bitrix24).  A field
    the list did not return (not selectable on this portal) is not compared."""
    ignored = set(create_only) | set(skip)
    return {k: (v, have.get(k)) for k, v in want.items()
            if k not in ignored and k in have and _as_stored(k, v) != _as_stored(k, have.get(k))}


def _as_stored(name: str, value: Any) -> str:
    """:func:`comparable`, in kopecks for a base price (as the portal stores it)."""
    text = comparable(value)
    if name in IN_KOPECKS and _NUMBER.match(text):
        return comparable(as_stored(text))
    return text


@dataclass(frozen=True)
class LinkView:
    """A link as the comparison needs it."""

    source: str
    onec_type: str
    onec_id: str
    b24_id: int
    fields: Mapping[str, Any] | None  # the owned fields last pushed (None: nothing comparable, or in doubt)


def missing(entity: str, links: Iterable[LinkView], present: Iterable[int]) -> list[Finding]:
    """Links whose Bitrix24 record is not in Bitrix24 any more."""
    ids = set(present)
    return [Finding(entity, "missing", link.b24_id, link.onec_id, link.source,
                    f"{entity} {link.b24_id} linked to 1C {link.onec_type} {link.onec_id} is not in Bitrix24")
            for link in links if link.b24_id not in ids]


def drift(entity: str, links: Iterable[LinkView], records: Mapping[int, Mapping[str, Any]],
          create_only: Iterable[str] = ()) -> list[Finding]:
    """Linked records whose owned fields differ from the last push."""
    out = []
    create_only = frozenset(create_only)
    for link in links:
        record = records.get(link.b24_id)
        if record is None or not link.fields:
            continue
        changed = field_drift(link.fields, record, create_only=create_only)
        if changed:
            out.append(Finding(entity, "drift", link.b24_id, link.onec_id, link.source,
                               f"{entity} {link.b24_id}: {', '.join(sorted(changed))} changed in Bitrix24",
                               changed))
    return out


def duplicates(entity: str, records: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], Any],
               linked: Mapping[int, LinkView], what: str) -> list[Finding]:
    """Records sharing one key (``what`` names it): one finding per extra record, the linked one (else the
    oldest) named as the original."""
    groups: dict[Any, list[int]] = {}
    for record in records:
        k = key(record)
        if k:
            groups.setdefault(k, []).append(int(record["ID"]))
    out = []
    for k, ids in groups.items():
        if len(ids) < 2:
            continue
        ids.sort()
        keep = next((i for i in ids if i in linked), ids[0])
        link = linked.get(keep)
        for other in ids:
            if other != keep:
                out.append(Finding(entity, "duplicate", other, link.onec_id if link else None,
                                   link.source if link else None,
                                   f"{entity} {other} has the {what} {_key_text(k)} of {entity} {keep}",
                                   others=(keep,)))
    return out


def twins(entity: str, linked_keys: Mapping[int, Any], unlinked_keys: Mapping[int, Any],
          linked: Mapping[int, LinkView], what: str) -> list[Finding]:
    """Unlinked records with the key of a linked one (``what``: "INN/KPP"): adoptable twins."""
    by_key: dict[Any, int] = {}
    for b24_id, k in sorted(linked_keys.items()):
        if k:
            by_key.setdefault(k, b24_id)
    out = []
    for b24_id, k in sorted(unlinked_keys.items()):
        original = by_key.get(k) if k else None
        if original is None or original == b24_id:
            continue
        link = linked.get(original)
        out.append(Finding(entity, "twin", b24_id, link.onec_id if link else None, link.source if link else None,
                           f"{entity} {b24_id} is not linked and has the {what} {_key_text(k)} of {entity} "
                           f"{original}", others=(original,)))
    return out


def _key_text(key: Any) -> str:
    return "/".join(str(k) for k in key) if isinstance(key, tuple) else str(key)


# --- deals ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealExpectation:
    """What 1C's facts call for on one deal."""

    source: str
    order_id: str
    b24_id: int
    stage_id: str  # STATUS_ID with its C{N}: prefix in a non-default funnel
    amount: Decimal
    rows_total: Decimal  # Σ of 1C's row totals incl. VAT
    currency: str
    fields: Mapping[str, Any] | None = None  # the owned fields last pushed (None when in doubt)


def money(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0)).quantize(CENT, ROUND_HALF_UP)
    except InvalidOperation:
        return Decimal(0)


def rows_sum(rows: Iterable[Mapping[str, Any]]) -> Decimal:
    """What Bitrix24's product rows add up to: Σ PRICE × QUANTITY (PRICE incl. VAT and discount)."""
    total = Decimal(0)
    for row in rows:
        try:
            total += Decimal(str(row.get("PRICE") or 0)) * Decimal(str(row.get("QUANTITY") or 0))
        except InvalidOperation:
            continue
    return total.quantize(CENT, ROUND_HALF_UP)


def deal_findings(want: DealExpectation, deal: Mapping[str, Any], rows: Iterable[Mapping[str, Any]] | None,
                  create_only: Iterable[str] = ()) -> list[Finding]:
    """Stage, amount, row sum and owned-field drift of one deal that is in Bitrix24."""
    out: list[Finding] = []
    key = (want.b24_id, want.order_id, want.source)
    stage = str(deal.get("STAGE_ID") or "")
    if stage != want.stage_id:
        out.append(Finding("deal", "stage", *key, f"deal {want.b24_id} is in {stage or '(none)'}; 1C's documents "
                           f"call for {want.stage_id}", {"STAGE_ID": (want.stage_id, stage)}))
    amounts: dict[str, tuple[Any, Any]] = {}
    if money(deal.get("OPPORTUNITY")) != want.amount.quantize(CENT, ROUND_HALF_UP):
        amounts["OPPORTUNITY"] = (want.amount, money(deal.get("OPPORTUNITY")))
    if rows is not None:
        have = rows_sum(rows)
        if have != want.rows_total.quantize(CENT, ROUND_HALF_UP):
            amounts["product rows"] = (want.rows_total, have)
    if amounts:
        out.append(Finding("deal", "amount", *key, f"deal {want.b24_id}: " + "; ".join(
            f"{k} {b} in Bitrix24, {a} in 1C" for k, (a, b) in amounts.items()), amounts))
    if want.fields:
        changed = field_drift(want.fields, deal, create_only=create_only)
        if changed:
            out.append(Finding("deal", "drift", *key, f"deal {want.b24_id}: {', '.join(sorted(changed))} changed "
                               "in Bitrix24", changed))
    return out


# --- the report -----------------------------------------------------------------------------------------


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)  # entity → linked records compared
    scanned: dict[str, int] = field(default_factory=dict)  # entity → Bitrix24 records read
    repairs: list[dict[str, Any]] = field(default_factory=list)  # what --repair did, per finding

    def counts(self) -> dict[tuple[str, str], int]:
        """(entity, kind) → findings, every pair present (zeros included: a gauge that drops to 0)."""
        out = {(e, k): 0 for e in ENTITIES for k in KINDS}
        for f in self.findings:
            out[(f.entity, f.kind)] = out.get((f.entity, f.kind), 0) + 1
        return out

    def summary(self) -> list[tuple[str, int, int, int, int, int, int, int]]:
        """Per entity: checked, then each kind's count."""
        counts = self.counts()
        return [(e, self.checked.get(e, 0), *(counts[(e, k)] for k in KINDS)) for e in ENTITIES]

    @property
    def clean(self) -> bool:
        return not self.findings

    def as_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "checked": self.checked, "scanned": self.scanned,
                "counts": {e: {k: n for (e2, k), n in self.counts().items() if e2 == e} for e in ENTITIES},
                "findings": [f.as_dict() for f in self.findings], "repairs": self.repairs}
