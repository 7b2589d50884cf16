"""The YAML mapping file: portal-specific ids and policies, loaded and validated once at start.

Errors name the file, the key and the reason (``mapping.yaml: requisite_presets.company: must be a
positive integer``), so a wrong mapping stops the bridge at start instead of failing on the first event.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .domain import matching as matching_rules
from .errors import ConfigError


class RequisitePresets(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company: PositiveInt
    individual_entrepreneur: PositiveInt
    person: PositiveInt


STAGE_KEYS = ("new", "invoiced", "shipped_unpaid", "paid", "cancelled")
USER_FIELD_KEYS = ("invoice_number", "invoice_date", "paid_amount", "payment_date", "shipment_number",
                   "shipment_date", "shipment_amount", "legal_entity")


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=22, pattern=r"^(C\d+:)?[A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=100)


class Stages(BaseModel):
    """The bridge's deal stages: STATUS_IDs in the funnel (without the ``C{N}:`` prefix) and their names."""

    model_config = ConfigDict(extra="forbid")

    new: Stage = Stage(id="B24B_ORDER", name="Заявка получена, подготовка счета")
    invoiced: Stage = Stage(id="B24B_INVOICE", name="Счет отправлен, ожидание оплаты")
    shipped_unpaid: Stage = Stage(id="B24B_SHIPPED", name="Отгрузка, без оплаты")
    paid: Stage = Stage(id="B24B_PAID", name="Счет оплачен / Оплата получена")
    cancelled: Stage = Stage(id="LOSE", name="Сделка провалена")


class UserFields(BaseModel):
    """FIELD_NAMEs of the deal user fields the bridge fills (``portal setup`` creates missing ones)."""

    model_config = ConfigDict(extra="forbid")

    invoice_number: str = Field("UF_CRM_B24B_INVOICE_NO", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")
    invoice_date: str = Field("UF_CRM_B24B_INVOICE_DATE", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")
    paid_amount: str = Field("UF_CRM_B24B_PAID_SUM", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")
    payment_date: str = Field("UF_CRM_B24B_PAYMENT_DATE", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")
    shipment_number: str = Field("UF_CRM_B24B_SHIPMENT_NO", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")
    shipment_date: str = Field("UF_CRM_B24B_SHIPMENT_DATE", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")
    shipment_amount: str = Field("UF_CRM_B24B_SHIPMENT_SUM", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")
    legal_entity: str = Field("UF_CRM_B24B_LEGAL_ENTITY", pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")


class Funnel(BaseModel):
    """The funnel of one 1C organisation (our legal entity): its orders' deals are made there."""

    model_config = ConfigDict(extra="forbid")

    organization: str = Field(min_length=1, max_length=150)  # the 1C Организация: its UUID or its exact name
    category_id: int = Field(ge=0)
    stages: Stages | None = None  # None: the ids and names of deals.stages


class Deals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category_id: int = Field(0, ge=0)
    stages: Stages = Stages()
    funnels: list[Funnel] = Field(default_factory=list)  # per organisation; others go to category_id/stages
    paid_when: Literal["full", "any"] = "full"
    user_fields: UserFields = UserFields()
    dependency_wait_hours: float = Field(24.0, gt=0)
    notify_paid: bool = True
    timeline_comments: bool = True

    @model_validator(mode="after")
    def _one_funnel_each(self) -> Deals:
        seen: dict[str, int] = {}
        stages_of: dict[int, tuple[str, Stages]] = {self.category_id: ("deals.stages", self.stages)}
        for n, funnel in enumerate(self.funnels):
            where = f"funnels.{n}"
            key = funnel.organization.strip().casefold()
            if key in seen:
                raise ValueError(f"{where}.organization: {funnel.organization!r} is also funnels.{seen[key]}")
            seen[key] = n
            stages = funnel.stages or self.stages
            for stage_key in STAGE_KEYS:
                code = getattr(stages, stage_key).id
                prefix = re.match(r"^C(\d+):", code)
                if prefix and int(prefix.group(1)) != funnel.category_id:
                    raise ValueError(f"{where}.stages.{stage_key}.id: {code} carries the prefix of funnel "
                                     f"{prefix.group(1)}, not {funnel.category_id}; write it without the prefix")
            other = stages_of.setdefault(funnel.category_id, (f"{where}.stages", stages))
            if other[1] != stages:
                raise ValueError(f"{where}.stages: funnel {funnel.category_id} has other stages in {other[0]}; "
                                 "organisations sharing a funnel share its stages")
        return self

    def category_for(self, organization_id: str | None, organization_name: str | None) -> int:
        """The funnel a new deal of this 1C organisation goes to: the funnel mapped to its UUID, else to its
        name, else ``category_id``."""
        for wanted in (organization_id, organization_name):
            if wanted:
                key = wanted.strip().casefold()
                found = next((f for f in self.funnels if f.organization.strip().casefold() == key), None)
                if found is not None:
                    return found.category_id
        return self.category_id

    def stages_in(self, category_id: int | None = None) -> Stages:
        """The bridge's stages in a funnel: the mapped funnel's, else those of ``deals.stages`` (a deal stays
        in the funnel it was made in even when the mapping no longer names it)."""
        if category_id is None or category_id == self.category_id:
            return self.stages
        found = next((f for f in self.funnels if f.category_id == category_id), None)
        return (found.stages or self.stages) if found is not None else self.stages

    def category_ids(self) -> list[int]:
        """Every funnel the mapping names: the default one first."""
        return list(dict.fromkeys([self.category_id, *(f.category_id for f in self.funnels)]))

    def stage_id(self, key: str, category_id: int | None = None) -> str:
        """The STATUS_ID for a bridge stage in a funnel (default: ``category_id``), with the ``C{N}:``
        prefix of a non-default funnel."""
        category = self.category_id if category_id is None else category_id
        code = getattr(self.stages_in(category), key).id
        if category == 0 or code.startswith(f"C{category}:"):
            return code
        return f"C{category}:{code}"


class Products(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api: Literal["catalog", "legacy"] = "catalog"
    iblock_id: PositiveInt | None = None  # catalog API: the product catalog's iblock; None = look it up
    base_price_type_id: PositiveInt = 1  # catalog.priceType id of the sale price (BASE)
    # several 1C bases share one catalogue: one Bitrix24 product per 1C id, whichever base sends it
    shared_catalogue: bool = False
    # the 1C base whose products may still carry the key without a source (made before keys carried it,
    # or by 1C's own exchange); None = any base may take over such a product no other base links
    legacy_key_source: str | None = Field(None, min_length=1, max_length=64)


class Users(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by_onec_id: dict[str, PositiveInt] = Field(default_factory=dict)  # 1C user UUID → Bitrix24 user id
    match_email: bool = True  # else look the 1C user's e-mail up with user.get


class Notify(BaseModel):
    """Who hears about trouble in Bitrix24 (``im.notify.system.add``, docs/operations.md "Notices")."""

    model_config = ConfigDict(extra="forbid")

    admins: list[PositiveInt] = Field(default_factory=list)  # portal user ids; empty: no notices
    console_url: str | None = Field(None, pattern=r"^https?://\S+$")  # the link in every notice
    pause_minutes: float = Field(10.0, gt=0)  # a consumer paused this long is an incident
    silence_minutes: float = Field(15.0, gt=0)  # a 1C base without heartbeat this long (working hours)
    check_seconds: float = Field(30.0, gt=0)  # how often the watcher looks


class Matching(BaseModel):
    """How the bridge finds a record a manager already typed into Bitrix24 before it creates one
    (docs/matching.md): the steps per entity, in order, after the bridge's own key."""

    model_config = ConfigDict(extra="forbid")

    company: list[str] = Field(default_factory=lambda: ["key", "requisite", "user_field", "title"])
    contact: list[str] = Field(default_factory=lambda: ["key", "phone_email"])
    product: list[str] = Field(default_factory=lambda: ["key", "article", "name"])
    # steps whose one candidate is parked for review instead of adopted (a weak match)
    park_single: list[str] = Field(default_factory=lambda: list(matching_rules.WEAK_BY_DEFAULT))
    company_inn_field: str | None = Field(None, pattern=r"^UF_CRM_[A-Z0-9_]{1,43}$")  # step user_field
    product_article_field: str | None = Field("code", min_length=1, max_length=64)  # step article
    adopt_fields: Literal["fill_empty", "onec_wins"] = "fill_empty"

    @field_validator("company", "contact", "product")
    @classmethod
    def _check_steps(cls, steps: list[str], info: ValidationInfo) -> list[str]:
        allowed = matching_rules.STEPS[info.field_name]
        if not steps or steps[0] != "key":
            raise ValueError(f"must start with key (the bridge's own key), e.g. {list(allowed)}")
        for step in steps:
            if step not in allowed:
                raise ValueError(f"unknown step {step!r}; known: {', '.join(allowed)}")
        if len(set(steps)) != len(steps):
            raise ValueError("a step is listed twice")
        return steps

    @field_validator("park_single")
    @classmethod
    def _check_weak(cls, steps: list[str]) -> list[str]:
        known = {s for steps_ in matching_rules.STEPS.values() for s in steps_} - {"key"}
        for step in steps:
            if step not in known:
                raise ValueError(f"unknown step {step!r}; known: {', '.join(sorted(known))}")
        return steps

    def steps(self, entity: str) -> list[str]:
        """The look-up steps after the bridge's own key; ``user_field`` only when a field is named, and
        ``article`` only when the article's field is."""
        steps = [s for s in getattr(self, entity) if s != "key"]
        if self.company_inn_field is None:
            steps = [s for s in steps if s != "user_field"]
        if self.product_article_field is None:
            steps = [s for s in steps if s != "article"]
        return steps


OWNED_ENTITIES = ("company", "contact", "deal", "product")
# the fields the bridge finds its records by: they must stay what 1C says, so they cannot be create-only
KEY_FIELDS = {
    "company": frozenset({"ORIGINATOR_ID", "ORIGIN_ID"}),
    "contact": frozenset({"ORIGINATOR_ID", "ORIGIN_ID"}),
    "deal": frozenset({"ORIGINATOR_ID", "ORIGIN_ID"}),
    "product": frozenset({"xmlId", "XML_ID", "code", "CODE"}),
}


class EntityOwnership(BaseModel):
    model_config = ConfigDict(extra="forbid")

    create_only: list[str] = Field(default_factory=list)


class Ownership(BaseModel):
    """Per Bitrix24 entity, the fields the bridge sets only when it creates the record (managers may change
    them afterwards); every other field the bridge writes is owned by 1C (docs/ownership.md)."""

    model_config = ConfigDict(extra="forbid")

    company: EntityOwnership = EntityOwnership(create_only=["TITLE", "ASSIGNED_BY_ID", "COMMENTS"])
    contact: EntityOwnership = EntityOwnership(create_only=["ASSIGNED_BY_ID", "COMMENTS"])
    deal: EntityOwnership = EntityOwnership(create_only=["TITLE", "ASSIGNED_BY_ID", "COMMENTS"])
    product: EntityOwnership = EntityOwnership(create_only=[])

    @model_validator(mode="after")
    def _fields_valid(self) -> Ownership:
        for entity in OWNED_ENTITIES:
            for n, name in enumerate(getattr(self, entity).create_only):
                where = f"{entity}.create_only.{n}"
                if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,49}", name or ""):
                    raise ValueError(f"{where}: {name!r} is not a Bitrix24 field name")
                if name in KEY_FIELDS[entity]:
                    raise ValueError(f"{where}: {name} is the key the bridge finds the {entity} by; "
                                     "it stays owned by 1C")
                if entity == "deal" and name == "CATEGORY_ID":
                    raise ValueError(f"{where}: CATEGORY_ID is always set on create only (deals.funnels); "
                                     "leave it out")
        return self


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    originator_id: str = Field("{source}", min_length=1, max_length=100)
    requisite_presets: RequisitePresets
    default_responsible_id: PositiveInt = 1
    company_type: str = "CUSTOMER"
    deleted_counterparty: Literal["comment", "ignore"] = "comment"
    deals: Deals = Deals()
    products: Products = Products()
    users: Users = Users()
    notify: Notify = Notify()
    matching: Matching = Matching()
    ownership: Ownership = Ownership()

    def originator(self, source: str) -> str:
        return self.originator_id.replace("{source}", source)

    def create_only(self, entity: str) -> frozenset[str]:
        """The fields of ``entity`` (company, contact, deal, product) the bridge sends only on create."""
        if entity not in OWNED_ENTITIES:
            raise ValueError(f"no ownership for {entity!r}; known: {', '.join(OWNED_ENTITIES)}")
        return frozenset(getattr(self.ownership, entity).create_only)


def default_text() -> str:
    return resources.files("bridge").joinpath("defaults/mapping.yaml").read_text(encoding="utf-8")


def parse(text: str, origin: str = "mapping") -> Mapping:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{origin}: not valid YAML{where}: {what}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: must be a YAML mapping of keys to values")
    try:
        return Mapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(_problem(err) for err in exc.errors())
        raise ConfigError(f"{origin}: {problems}") from None


def _problem(err: dict) -> str:
    where = ".".join(str(p) for p in err["loc"])
    if err.get("type") == "value_error":  # our own checks name the key below ``where``: "funnels.1.organization: …"
        message = str(err.get("msg", "")).removeprefix("Value error, ")
        if not where:
            return message
        return f"{where}.{message}" if re.match(r"[\w.]+: ", message) else f"{where}: {message}"
    return f"{where or '(top)'}: {_say(err)}"


def _say(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key (typo?)"
    if kind in ("greater_than", "int_parsing", "int_type"):
        return f"must be a positive integer (got {err.get('input')!r})"
    return f"{err.get('msg', 'invalid')} (got {err.get('input')!r})"


def load(path: Path | None) -> Mapping:
    """The mapping at ``path``, or the embedded default when ``path`` is None."""
    if path is None:
        return parse(default_text(), "embedded default mapping")
    return parse(read_file(path), str(path))


def read_file(path: Path) -> str:
    """A mapping file's text; one that cannot be read, or is not UTF-8 (saved in Windows' cp1251), is a
    ConfigError naming the file."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mapping file {path}: cannot read it: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"mapping file {path}: not UTF-8 text (byte {exc.start}): save it as UTF-8") from exc
