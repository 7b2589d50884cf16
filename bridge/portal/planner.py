"""Compare the mapping with the portal: what is wrong, what ``portal setup`` can do about it, what it can't.

Pure: :func:`plan` takes a :class:`~bridge.mapping.Mapping` and a :class:`~bridge.portal.state.PortalState`
and returns a :class:`~bridge.portal.plan.Plan` of

* problems, each naming the mapping key, what the mapping says, what the portal has and how to fix it
  (``by="setup"`` when ``portal setup`` fixes it, ``"human"`` otherwise; warnings don't fail a check);
* actions, the portal writes setup makes (in-progress stages, deal user fields);
* changes, the mapping values setup fills in (the product catalog, the portal's stage names, the
  bridge's own user fields found by XML_ID under another name).

Applying the actions to the state and the changes to the mapping gives an empty plan, apart from what only a
human can fix (``tests/unit/test_portal_plan.py`` pins that).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from ..mapping import STAGE_KEYS, USER_FIELD_KEYS, Mapping
from .plan import Action, CreateStage, CreateUserField, MappingChange, Plan, Problem
from .scopes import scopes_text
from .state import PortalState, StageRow

LIFECYCLE = ("new", "invoiced", "shipped_unpaid", "paid")  # in-progress stages setup creates, in this order
CANCELLED = "cancelled"  # a failure stage that must exist; setup never creates one
assert set(LIFECYCLE) | {CANCELLED} == set(STAGE_KEYS)

SETUP = "run b24bridge portal setup"
XML_ID_PREFIX = "b24bridge:"  # XML_ID of the deal user fields setup creates: b24bridge:<mapping key>
SORT_STEP = 10  # between stages placed after the last one when the funnel has no final stage


@dataclass(frozen=True)
class FieldSpec:
    user_type: str
    label_ru: str
    label_en: str


USER_FIELD_SPECS: dict[str, FieldSpec] = {
    "invoice_number": FieldSpec("string", "Счёт 1С: номер", "1C invoice: number"),
    "invoice_date": FieldSpec("date", "Счёт 1С: дата", "1C invoice: date"),
    "paid_amount": FieldSpec("money", "Оплата 1С: сумма", "1C payment: amount"),
    "payment_date": FieldSpec("date", "Оплата 1С: дата", "1C payment: date"),
    "shipment_number": FieldSpec("string", "Отгрузка 1С: номер", "1C shipment: number"),
    "shipment_date": FieldSpec("date", "Отгрузка 1С: дата", "1C shipment: date"),
    "shipment_amount": FieldSpec("money", "Отгрузка 1С: сумма", "1C shipment: amount"),
    "legal_entity": FieldSpec("string", "Организация 1С", "1C legal entity"),
}
assert tuple(USER_FIELD_SPECS) == USER_FIELD_KEYS

SYSTEM_PRESETS = {  # XML_IDs of the system presets of a Russian portal, per mapping key
    "company": "#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#",
    "individual_entrepreneur": "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#",
    "person": "#CRM_REQUISITE_PRESET_DEF_RU_PERSON#",
}
PRESET_WORDS = {"company": "companies", "individual_entrepreneur": "individual entrepreneurs",
                "person": "persons"}

# section of PortalState → (mapping key it serves, webhook scope it needs, what was read)
SECTIONS = {
    "funnels": ("deals.category_id", "crm", "deal funnels (crm.category.list)"),
    "stages": ("deals.stages", "crm", "the funnel's stages (crm.status.list)"),
    "funnel_stages": ("deals.funnels", "crm", "the organisations' funnels' stages (crm.status.list)"),
    "user_fields": ("deals.user_fields", "crm", "deal user fields (crm.deal.userfield.list)"),
    "presets": ("requisite_presets", "crm", "requisite presets (crm.requisite.preset.list)"),
    "company_types": ("company_type", "crm", "company types (crm.status.list COMPANY_TYPE)"),
    "catalogs": ("products.iblock_id", "catalog", "product catalogs (catalog.catalog.list)"),
    "price_types": ("products.base_price_type_id", "catalog", "price types (catalog.priceType.list)"),
    "users": ("default_responsible_id", "user", "users (user.get)"),
}

_PREFIX = re.compile(r"^C(\d+):")


def xml_id(key: str) -> str:
    return XML_ID_PREFIX + key


def plan(mapping: Mapping, state: PortalState) -> Plan:
    """What is wrong between ``mapping`` and ``state``, and what setup would do about it."""
    p = _Planner(mapping, state)
    p.run()
    return Plan(tuple(p.problems), tuple(p.actions), tuple(p.changes))


def place_stages(stages: Sequence[StageRow], present: dict[str, int], missing: Sequence[str],
                 order: Sequence[str] = LIFECYCLE) -> dict[str, int | None]:
    """SORT values for the ``missing`` bridge stages: in lifecycle ``order`` among the ``present`` ones
    (key → SORT), in the funnel's in-progress part, before its first success/failure stage; ``None`` for a
    stage with no free integer SORT where it belongs.

    A run of missing stages goes between the present bridge stages around it; with none after it, after the
    funnel's last in-progress stage; never after a final stage.  Present bridge stages out of lifecycle order
    are not used as anchors.
    """
    process = sorted(s.sort for s in stages if not s.final)
    finals = [s.sort for s in stages if s.final]
    first_final = min(finals) if finals else None
    anchors = [present[k] for k in order if k in present]
    if any(b <= a for a, b in pairwise(anchors)):
        present = {}
    out: dict[str, int | None] = {}
    run: list[str] = []
    for key in (*order, None):
        if key is not None and key not in present:
            if key in missing:
                run.append(key)
            continue
        if run:
            bounds = [b for b in (present.get(key) if key is not None else None, first_final) if b is not None]
            out.update(_spread(run, process, min(bounds, default=None)))
            run = []
    return out


def _spread(run: list[str], process: list[int], upper: int | None) -> dict[str, int | None]:
    lower = max((s for s in process if upper is None or s < upper), default=0)
    n = len(run)
    if upper is None:
        return {key: lower + SORT_STEP * (i + 1) for i, key in enumerate(run)}
    gap = upper - lower
    if gap <= n:
        return dict.fromkeys(run)
    return {key: lower + gap * (i + 1) // (n + 1) for i, key in enumerate(run)}


def _stage_text(row: StageRow) -> str:
    return f'{row.status_id} "{row.name}"'


_SEMANTICS_WORDS = {"P": "an in-progress", "S": "a success", "F": "a failure"}


@dataclass
class _Planner:
    mapping: Mapping
    state: PortalState
    problems: list[Problem] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    changes: list[MappingChange] = field(default_factory=list)

    def run(self) -> None:
        deals = self.mapping.deals
        funnel = self.funnel()
        if funnel is not None:
            self.stages(funnel.id, f'funnel {funnel.id} "{funnel.name}"', "deals.stages", deals.stages, True)
        for n, entry in enumerate(deals.funnels):
            first = next(i for i, f in enumerate(deals.funnels) if f.category_id == entry.category_id)
            if entry.category_id == deals.category_id or first != n:
                continue  # the default funnel, or one an earlier organisation shares (same stages)
            other = self.other_funnel(n, entry.category_id)
            if other is not None and self.readable("funnel_stages"):
                self.stages(other.id, f'funnel {other.id} "{other.name}" (deals.funnels.{n}: {entry.organization})',
                            f"deals.funnels.{n}.stages", deals.stages_in(other.id), entry.stages is not None)
        self.user_fields()
        self.presets()
        self.company_type()
        self.users()
        if self.mapping.products.api == "catalog":
            self.catalog()
            self.price_type()

    def problem(self, key: str, message: str, fix: str, **kw: Any) -> None:
        self.problems.append(Problem(key, message, fix, **kw))

    def readable(self, section: str) -> bool:
        if getattr(self.state, section) is not None:
            return True
        key, scope, what = SECTIONS[section]
        reason = self.state.unreadable.get(section, "no reply")
        self.problem(key, f"cannot read {what}: {reason}",
                     f"give the webhook the {scope} scope (the bridge needs {scopes_text()}) and the right to "
                     "read it, then check again")
        return False

    # --------------------------------------------------------------------------------------- deals

    def funnel(self):
        if not self.readable("funnels"):
            return None
        category_id = self.mapping.deals.category_id
        funnel = self.state.funnel(category_id)
        if funnel is None:
            names = ", ".join(f"{f.id} {f.name}" for f in self.state.funnels or ())
            self.problem("deals.category_id", f"funnel {category_id} does not exist; funnels: {names or 'none'}",
                         "set deals.category_id to one of them, or create the funnel in Bitrix24 "
                         "(CRM → Deals → funnels) and check again", mapping=category_id,
                         portal=[f.id for f in self.state.funnels or ()])
        return funnel

    def other_funnel(self, n: int, category_id: int):
        """A funnel of deals.funnels: it must exist (setup does not make funnels: their ids are the portal's)."""
        if self.state.funnels is None:  # reported once, for deals.category_id
            return None
        funnel = self.state.funnel(category_id)
        if funnel is None:
            names = ", ".join(f"{f.id} {f.name}" for f in self.state.funnels or ())
            self.problem(f"deals.funnels.{n}.category_id", f"funnel {category_id} does not exist; funnels: "
                         f"{names or 'none'}", "set it to one of them, or create the funnel in Bitrix24 "
                         "(CRM → Deals → funnels) and check again", mapping=category_id,
                         portal=[f.id for f in self.state.funnels or ()])
        return funnel

    def stages(self, funnel_id: int, funnel_text: str, where: str = "deals.stages", named: Any = None,
               own_names: bool = True) -> None:
        """The bridge's stages (``named``, the mapping's ``where``) in one funnel; ``own_names``: setup may
        write the portal's stage names into the mapping at ``where``."""
        if where == "deals.stages":
            if not self.readable("stages"):
                return
            assert self.state.stages_funnel == funnel_id, "stages were read for another funnel"
        stages = self.state.stages_of(funnel_id) or ()
        deals = self.mapping.deals
        named = named if named is not None else deals.stages
        usable: dict[str, str] = {}  # key → full STATUS_ID
        seen: dict[str, str] = {}
        for key in STAGE_KEYS:
            code = getattr(named, key).id
            prefix = _PREFIX.match(code)
            if prefix and int(prefix.group(1)) != funnel_id:
                self.problem(f"{where}.{key}", f"id {code} carries the prefix of funnel {prefix.group(1)}, "
                             f"but the funnel is {funnel_id}",
                             f"write the id without the prefix: {code[prefix.end():]}", mapping=code)
                continue
            full = deals.stage_id(key, funnel_id)
            if full in seen:
                self.problem(f"{where}.{key}", f"stage {full} is also {where}.{seen[full]}",
                             "give each bridge stage its own id", mapping=code)
                continue
            seen[full] = key
            usable[key] = full

        present: dict[str, int] = {}
        missing: list[str] = []
        for key in LIFECYCLE:
            if key not in usable:
                continue
            row = self.state.stage(usable[key], funnel_id)
            if row is None:
                missing.append(key)
            elif row.final:
                self.problem(f"{where}.{key}",
                             f"stage {_stage_text(row)} in {funnel_text} is {_SEMANTICS_WORDS[row.semantics]} stage; "
                             "the bridge needs an in-progress one here",
                             f"choose another id for {where}.{key} (setup creates it if it is missing)",
                             mapping=usable[key], portal={"name": row.name, "semantics": row.semantics})
            else:
                present[key] = row.sort
                self.stage_name(key, row, where, named, own_names)
        order = [k for k in LIFECYCLE if k in present]
        if any(present[b] <= present[a] for a, b in pairwise(order)):
            shown = " → ".join(f"{usable[k]} ({present[k]})" for k in sorted(order, key=present.get))
            self.problem(where, f"the bridge's stages are out of lifecycle order in {funnel_text}: {shown}",
                         "drag them into the order new → invoiced → shipped_unpaid → paid in the funnel settings",
                         severity="warning", portal={k: present[k] for k in order})
        sorts = place_stages(stages, present, missing)
        for key in missing:
            stage = getattr(named, key)
            sort = sorts.get(key)
            text = f'stage {usable[key]} "{stage.name}" is missing in {funnel_text}'
            if sort is None:
                self.problem(f"{where}.{key}", f"{text}, and there is no free SORT value where it belongs",
                             "spread the SORT values of the funnel's stages in Bitrix24 (move a stage and back), "
                             "then run setup again", mapping=usable[key])
                continue
            self.problem(f"{where}.{key}", text, SETUP, by="setup", mapping=usable[key])
            self.actions.append(CreateStage(f"{where}.{key}", funnel_id, usable[key], stage.name, sort))
        if CANCELLED in usable:
            self.cancelled(usable[CANCELLED], funnel_text, stages, funnel_id, where, named, own_names)

    def cancelled(self, full: str, funnel_text: str, stages: Sequence[StageRow], funnel_id: int | None = None,
                  where: str = "deals.stages", named: Any = None, own_names: bool = True) -> None:
        key = f"{where}.{CANCELLED}"
        row = self.state.stage(full, funnel_id)
        failures = [s for s in stages if s.semantics == "F"]
        choices = ", ".join(_stage_text(s) for s in failures)
        if row is None:
            fix = (f"set {key}.id to one of them (setup does not create failure stages)" if failures else
                   "add a failure stage to the funnel in Bitrix24, then set its id here")
            self.problem(key, f"stage {full} is missing in {funnel_text}; its failure stages: {choices or 'none'}",
                         fix, mapping=full, portal=[s.status_id for s in failures])
        elif row.semantics != "F":
            self.problem(key, f"stage {_stage_text(row)} in {funnel_text} is {_SEMANTICS_WORDS[row.semantics]} "
                         "stage, expected a failure stage (SEMANTICS F)",
                         f"set {key}.id to a failure stage: {choices or 'add one in Bitrix24 first'}",
                         mapping=full, portal={"name": row.name, "semantics": row.semantics})
        else:
            self.stage_name(CANCELLED, row, where, named, own_names)

    def stage_name(self, key: str, row: StageRow, where: str = "deals.stages", stages: Any = None,
                   own_names: bool = True) -> None:
        named = getattr(stages if stages is not None else self.mapping.deals.stages, key).name
        if row.name == named:
            return
        said = f'stage {row.status_id} is named "{row.name}" on the portal, the mapping says "{named}"'
        if where != "deals.stages":  # setup writes names only into deals.stages (a list item has no line of its own)
            fix = ("rename the stage in Bitrix24, or write the name into the mapping" if own_names else
                   f"rename the stage in Bitrix24, or give {where.rsplit('.', 1)[0]} its own stages with this name")
            self.problem(f"{where}.{key}", said, fix, severity="warning", mapping=named, portal=row.name)
            return
        self.problem(f"{where}.{key}", said,
                     "setup writes the portal's name into the mapping (or rename the stage in Bitrix24)",
                     by="setup", severity="warning", mapping=named, portal=row.name)
        self.changes.append(MappingChange(f"deals.stages.{key}.name", named, row.name, "the portal's name"))

    def user_fields(self) -> None:
        if not self.readable("user_fields"):
            return
        names = self.mapping.deals.user_fields
        claimed: dict[str, str] = {}
        for key in USER_FIELD_KEYS:
            spec, name, mkey = USER_FIELD_SPECS[key], getattr(names, key), f"deals.user_fields.{key}"
            if name in claimed:
                self.problem(mkey, f"{name} is also deals.user_fields.{claimed[name]}",
                             "give each field its own name (setup creates missing ones)", mapping=name)
                continue
            claimed[name] = key
            found = self.state.user_field(name)
            if found is None:
                self.missing_user_field(key, name, spec)
            elif found.user_type != spec.user_type:
                self.problem(mkey, f"{name} exists but is of type {found.user_type}, expected {spec.user_type}",
                             f"point {mkey} at another name (setup creates it), or delete the field in Bitrix24 "
                             "and run setup", mapping=name, portal=found.user_type)
            elif found.multiple:
                self.problem(mkey, f"{name} is a multiple field; the bridge writes one value",
                             f"point {mkey} at another name (setup creates it), or delete the field in Bitrix24 "
                             "and run setup", mapping=name, portal="multiple")

    def missing_user_field(self, key: str, name: str, spec: FieldSpec) -> None:
        mkey = f"deals.user_fields.{key}"
        taken = set(self.mapping.deals.user_fields.model_dump().values())
        own = next((f for f in self.state.user_fields or () if f.xml_id == xml_id(key)
                    and f.user_type == spec.user_type and not f.multiple and f.field_name not in taken), None)
        if own is not None:
            self.problem(mkey, f"{name} does not exist, but {own.field_name} is the bridge's field for {key} "
                         f"(XML_ID {own.xml_id})", f"{SETUP} (it writes {own.field_name} into the mapping)",
                         by="setup", mapping=name, portal=own.field_name)
            self.changes.append(MappingChange(mkey, name, own.field_name, f"the bridge's field, XML_ID {own.xml_id}"))
            return
        self.problem(mkey, f"{name} ({spec.user_type}) does not exist", SETUP, by="setup", mapping=name)
        self.actions.append(CreateUserField(mkey, name, spec.user_type, spec.label_ru, spec.label_en, xml_id(key)))

    # ------------------------------------------------------------------------------ requisites, users

    def presets(self) -> None:
        if not self.readable("presets"):
            return
        presets = self.state.presets or ()
        listing = ", ".join(f"{p.id} {p.name}" + (f" ({p.xml_id})" if p.xml_id else "")
                            + ("" if p.active else " [inactive]") for p in presets)
        for kind, system_xml in SYSTEM_PRESETS.items():
            key, pid = f"requisite_presets.{kind}", getattr(self.mapping.requisite_presets, kind)
            preset = next((p for p in presets if p.id == pid), None)
            system = next((p for p in presets if p.xml_id == system_xml and p.active), None)
            if system is not None and system.id != pid:
                fix = f"set {key}: {system.id} (the system preset for {PRESET_WORDS[kind]}, {system_xml})"
            else:
                fix = f"set {key} to one of them"
            if preset is None:
                self.problem(key, f"preset {pid} does not exist; presets on this portal: {listing or 'none'}", fix,
                             mapping=pid, portal=[p.id for p in presets])
            elif not preset.active:
                self.problem(key, f'preset {pid} "{preset.name}" is inactive; presets on this portal: {listing}',
                             fix, mapping=pid, portal={"name": preset.name, "active": False})
            else:
                other = next((k for k, x in SYSTEM_PRESETS.items() if x == preset.xml_id and k != kind), None)
                if other is not None:
                    self.problem(key, f'preset {pid} "{preset.name}" is the system preset for {PRESET_WORDS[other]} '
                                 f"({preset.xml_id}), not for {PRESET_WORDS[kind]}", fix,
                                 mapping=pid, portal={"name": preset.name, "xml_id": preset.xml_id})

    def company_type(self) -> None:
        if not self.readable("company_types"):
            return
        types = self.state.company_types or ()
        wanted = self.mapping.company_type
        if not any(t.status_id == wanted for t in types):
            listing = ", ".join(f"{t.status_id} {t.name}" for t in types)
            self.problem("company_type", f"company type {wanted} does not exist; types: {listing or 'none'}",
                         "set company_type to one of them, or add it in CRM settings → lists → company types",
                         mapping=wanted, portal=[t.status_id for t in types])

    def users(self) -> None:
        if not self.readable("users"):
            return
        self.user("default_responsible_id", self.mapping.default_responsible_id,
                  "set it to the id of an active Bitrix24 user (the number in the user's profile URL)")
        for onec_id, user_id in self.mapping.users.by_onec_id.items():
            self.user(f"users.by_onec_id[{onec_id}]", user_id,
                      "map the 1C user to an active Bitrix24 user, or remove the entry")

    def user(self, key: str, user_id: int, fix: str) -> None:
        user = (self.state.users or {}).get(user_id)
        if user is None:
            self.problem(key, f"user {user_id} not found or inactive", fix, mapping=user_id)
        elif not user.active:
            self.problem(key, f"user {user_id} ({user.name}) is inactive", fix, mapping=user_id,
                         portal={"name": user.name, "active": False})

    # ------------------------------------------------------------------------------------ products

    def catalog(self) -> None:
        if not self.readable("catalogs"):
            return
        catalogs = self.state.catalogs or ()
        products = [c for c in catalogs if not c.offers]
        listing = ", ".join(f"{c.iblock_id} {c.name}" + (f" (offers of {c.product_iblock_id})" if c.offers else "")
                            for c in catalogs)
        wanted = self.mapping.products.iblock_id
        if wanted is None:
            if not products:
                self.problem("products.iblock_id", f"no product catalog on this portal; catalogs: {listing or 'none'}",
                             "enable the CRM product catalog in Bitrix24, or set products.api: legacy")
                return
            chosen = products[0]
            self.changes.append(MappingChange("products.iblock_id", None, chosen.iblock_id,
                                              f'the product catalog "{chosen.name}"'))
            if len(products) > 1:
                self.problem("products.iblock_id", f"several product catalogs: {listing}; setup picks "
                             f"{chosen.iblock_id}", "set products.iblock_id to the one 1C products belong in",
                             severity="warning", portal=[c.iblock_id for c in products])
            return
        found = next((c for c in catalogs if c.iblock_id == wanted), None)
        if found is None:
            fix = (f"set products.iblock_id: {products[0].iblock_id}" if products
                   else "enable the CRM product catalog in Bitrix24, or set products.api: legacy")
            self.problem("products.iblock_id", f"catalog {wanted} does not exist; catalogs: {listing or 'none'}",
                         fix, mapping=wanted, portal=[c.iblock_id for c in catalogs])
        elif found.offers:
            self.problem("products.iblock_id", f"catalog {wanted} is the offers (SKU) catalog of "
                         f"{found.product_iblock_id}", f"set products.iblock_id: {found.product_iblock_id}",
                         mapping=wanted, portal={"product_iblock_id": found.product_iblock_id})

    def price_type(self) -> None:
        if not self.readable("price_types"):
            return
        types = self.state.price_types or ()
        wanted = self.mapping.products.base_price_type_id
        if any(t.id == wanted for t in types):
            return
        listing = ", ".join(f"{t.id} {t.name}" + (" (base)" if t.base else "") for t in types)
        base = next((t for t in types if t.base), None)
        fix = (f"set products.base_price_type_id: {base.id} (the base price type {base.name})" if base
               else "set products.base_price_type_id to one of them")
        self.problem("products.base_price_type_id",
                     f"price type {wanted} does not exist; price types: {listing or 'none'}", fix,
                     mapping=wanted, portal=[t.id for t in types])
