"""Which record a manager already typed into Bitrix24 is this 1C object?  Pure rules, no I/O.

A live portal holds years of companies, contacts and products entered by hand.  Before the bridge creates
a record for a 1C object it has never linked, it looks for one of those (``bridge/sync/matching.py`` asks
Bitrix24; the rules here judge the answers):

* **companies** by requisite ИНН + КПП: a requisite with the same ИНН and the same КПП is the company; the
  same ИНН with another КПП is another company (a branch, «обособленное подразделение»); the same ИНН on a
  requisite without КПП is only a weak hint.  An ИП has no КПП: its 12-digit ИНН alone is strong.  Then a
  user field holding the ИНН (named in the mapping), then the ИНН written in the TITLE (weak);
* **contacts** by phone or e-mail (``crm.duplicate.findbycomm``, which normalises them) *together with the
  name*: the same phone with another name is another person (the office switchboard);
* **products** by the article (a field named in the mapping), then by the exact name (weak by default:
  «Болт М8» and «Болт М8 оцинк.» are different products, but two «Болт М8» may also be).

Each step of the order in the mapping yields candidates; the first step that yields any decides:
exactly one strong candidate → **adopt** it; several → **park** the event for an operator; one weak
candidate → **park** too (``park_single`` in the mapping says which steps are weak).  No step with
candidates → **create**.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

# the steps each entity may use, in the mapping's words; "key" (the bridge's own key) is always first
STEPS: dict[str, tuple[str, ...]] = {
    "company": ("key", "requisite", "user_field", "title"),
    "contact": ("key", "phone_email"),
    "product": ("key", "article", "name"),
}
WEAK_BY_DEFAULT = ("title", "name")

# why an event is parked (the metric's ``reason`` label and the review list's column)
SEVERAL = "several_candidates"
WEAK = "weak_match"
REASONS = (SEVERAL, WEAK)


class Verdict(str, Enum):
    ADOPT = "adopt"
    PARK = "park"
    CREATE = "create"


@dataclass(frozen=True)
class Candidate:
    """One Bitrix24 record that may be the 1C object: its id, the step that found it, and why."""

    id: int
    step: str
    strong: bool = True
    note: str = ""
    requisite_id: int | None = None  # companies found by requisite: the requisite that matched

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "step": self.step, "strong": self.strong, "note": self.note,
                "requisite_id": self.requisite_id}


@dataclass(frozen=True)
class Match:
    verdict: Verdict
    candidates: tuple[Candidate, ...] = ()
    reason: str | None = None  # PARK: SEVERAL or WEAK

    @property
    def target(self) -> Candidate:
        assert self.verdict is Verdict.ADOPT and len(self.candidates) == 1
        return self.candidates[0]


CREATE = Match(Verdict.CREATE)


def decide(found: Iterable[Sequence[Candidate]], *, park_single: Iterable[str] = WEAK_BY_DEFAULT) -> Match:
    """The verdict over the candidates of each step in order (a step with none is passed over)."""
    weak_steps = set(park_single)
    for candidates in found:
        unique: dict[int, Candidate] = {}
        for c in candidates:
            unique.setdefault(c.id, c)
        if not unique:
            continue
        chosen = tuple(unique.values())
        if len(chosen) > 1:
            return Match(Verdict.PARK, chosen, SEVERAL)
        only = chosen[0]
        if not only.strong or only.step in weak_steps:
            return Match(Verdict.PARK, chosen, WEAK)
        return Match(Verdict.ADOPT, chosen)
    return CREATE


# --- companies ---------------------------------------------------------------------------------------------


def digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def requisite_candidates(rows: Iterable[dict[str, Any]], *, inn: str, kpp: str | None) -> list[Candidate]:
    """Companies whose requisite carries ``inn`` (rows of ``crm.requisite.list`` filtered by RQ_INN on
    companies): the same КПП is the company, another КПП another company (a branch), no КПП on the
    requisite a weak hint; an ИП (12-digit ИНН, no КПП) is its ИНН."""
    inn = digits(inn)
    kpp_wanted = (kpp or "").strip().upper()
    strong: dict[int, Candidate] = {}
    weak: dict[int, Candidate] = {}
    for row in rows:
        if digits(row.get("RQ_INN")) != inn or str(row.get("ENTITY_TYPE_ID", "4")) != "4":
            continue
        company_id, requisite_id = int(row["ENTITY_ID"]), int(row["ID"])
        have = str(row.get("RQ_KPP") or "").strip().upper()
        if have == kpp_wanted:
            strong.setdefault(company_id, Candidate(company_id, "requisite", True,
                                                    f"ИНН {inn}" + (f", КПП {have}" if have else ""), requisite_id))
        elif not have and kpp_wanted:
            weak.setdefault(company_id, Candidate(company_id, "requisite", False,
                                                  f"ИНН {inn}, КПП на реквизите не указан", requisite_id))
        # another КПП: another company (a branch) — not a candidate
    return list(strong.values()) or list(weak.values())


def title_candidates(rows: Iterable[dict[str, Any]], *, inn: str) -> list[Candidate]:
    """Companies with the ИНН written in their TITLE (as a whole number, not inside a longer one): weak."""
    inn = digits(inn)
    pattern = re.compile(rf"(?<!\d){re.escape(inn)}(?!\d)")
    return [Candidate(int(r["ID"]), "title", False, f"ИНН {inn} в названии «{r.get('TITLE', '')}»")
            for r in rows if inn and pattern.search(str(r.get("TITLE") or ""))]


def user_field_candidates(rows: Iterable[dict[str, Any]], *, inn: str, field_name: str) -> list[Candidate]:
    inn = digits(inn)
    return [Candidate(int(r["ID"]), "user_field", True, f"ИНН {inn} в {field_name}")
            for r in rows if inn and digits(r.get(field_name)) == inn]


# --- contacts ----------------------------------------------------------------------------------------------


def _name_key(value: Any) -> str:
    return " ".join(str(value or "").replace("ё", "е").replace("Ё", "Е").casefold().split())


def same_person(wanted: dict[str, Any], row: dict[str, Any]) -> bool:
    """The same name: last name and first name equal (case, ё/е and blanks aside); a middle name counts only
    when both have one.  A contact typed with the whole name in NAME matches too."""
    last, first, middle = (_name_key(wanted.get(k)) for k in ("LAST_NAME", "NAME", "SECOND_NAME"))
    have_last, have_first, have_middle = (_name_key(row.get(k)) for k in ("LAST_NAME", "NAME", "SECOND_NAME"))
    if not (last or first):
        return False
    if middle and have_middle and middle != have_middle:
        return False
    if (last, first) == (have_last, have_first):
        return True
    whole = " ".join(p for p in (last, first, middle) if p)
    typed = " ".join(p for p in (have_last, have_first, have_middle) if p)
    return whole == typed or " ".join(p for p in (last, first) if p) == typed


def contact_candidates(rows: Iterable[dict[str, Any]], *, wanted: dict[str, Any]) -> list[Candidate]:
    """Contacts sharing a phone or e-mail (rows of ``crm.contact.list`` by the ids findbycomm gave) that
    carry the same name; a shared phone under another name is another person."""
    return [Candidate(int(r["ID"]), "phone_email", True, "телефон/e-mail и ФИО совпадают")
            for r in rows if same_person(wanted, r)]


# --- products ----------------------------------------------------------------------------------------------


def fold(value: Any) -> str:
    """Compared as the portal's collation compares: case and blanks around ignored, inner runs of blanks one."""
    return " ".join(str(value or "").split()).casefold()


def product_candidates(rows: Iterable[dict[str, Any]], *, step: str, field_name: str, value: str,
                       id_field: str) -> list[Candidate]:
    """Products whose ``field_name`` equals ``value`` (the portal's filter may also match a prefix or
    ignore more than we do: only equal values count)."""
    wanted = fold(value)
    return [Candidate(int(r[id_field]), step, True, f"{field_name} = «{r.get(field_name)}»")
            for r in rows if wanted and fold(r.get(field_name)) == wanted]


# --- adopting ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adoption:
    """What to write on an adopted record: our key (unless another 1C base's key is already there) and the
    fields Bitrix24 has empty (every field when the policy says 1C wins)."""

    fields: dict[str, Any] = field(default_factory=dict)
    keyed: bool = False  # our key written (False: the record keeps another base's key)


def has_bridge_key(current: dict[str, Any], key_fields: Sequence[str], prefix: str = "") -> bool:
    """Does the record carry a key already (of another 1C base, or 1C's own exchange)?  ``prefix``: only
    values starting with it are keys (a portal fills a product's XML_ID with its id by itself)."""
    return any(str(current.get(k) or "").strip().startswith(prefix) and str(current.get(k) or "").strip()
               for k in key_fields)


def adoption(desired: dict[str, Any], current: dict[str, Any], *, key_fields: Sequence[str],
             onec_wins: bool, key_prefix: str = "") -> Adoption:
    """The fields to send to an adopted record: ``key_fields`` (ORIGINATOR_ID/ORIGIN_ID, XML_ID) when the
    record holds no key yet (a key of another 1C base stays: that base links it too); of the rest, those
    empty in Bitrix24, or all when ``onec_wins``."""
    has_key = has_bridge_key(current, key_fields, key_prefix)
    out: dict[str, Any] = {}
    for name, value in desired.items():
        if name in key_fields:
            if not has_key:
                out[name] = value
            continue
        have = current.get(name)
        if (onec_wins or have is None or str(have).strip() == "") and have != value:
            out[name] = value
    return Adoption(out, not has_key)
