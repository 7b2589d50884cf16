"""The YAML mapping file: portal-specific ids and policies, loaded and validated once at start.

Errors name the file, the key and the reason (``mapping.yaml: requisite_presets.company: must be a
positive integer``), so a wrong mapping stops the bridge at start instead of failing on the first event.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError

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


class Deals(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category_id: int = Field(0, ge=0)
    stages: Stages = Stages()
    paid_when: Literal["full", "any"] = "full"
    user_fields: UserFields = UserFields()
    dependency_wait_hours: float = Field(24.0, gt=0)
    notify_paid: bool = True
    timeline_comments: bool = True

    def stage_id(self, key: str) -> str:
        """The STATUS_ID for a bridge stage, with the ``C{N}:`` prefix of a non-default funnel."""
        code = getattr(self.stages, key).id
        if self.category_id == 0 or code.startswith(f"C{self.category_id}:"):
            return code
        return f"C{self.category_id}:{code}"


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


class Owned(BaseModel):
    """How the bridge owns one entity's fields: those in ``create_only`` are written when the bridge creates
    the record and are the managers' afterwards (not drift when they differ, see ``b24bridge reconcile``)."""

    model_config = ConfigDict(extra="forbid")

    create_only: list[str] = Field(default_factory=list)


def _ownership() -> dict[str, Owned]:
    return {"company": Owned(create_only=["TITLE", "ASSIGNED_BY_ID", "COMMENTS"]),
            "contact": Owned(create_only=["ASSIGNED_BY_ID", "COMMENTS"]),
            "deal": Owned(create_only=["TITLE", "ASSIGNED_BY_ID", "COMMENTS"]),
            "product": Owned(create_only=[])}


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
    ownership: dict[Literal["company", "contact", "deal", "product"], Owned] = Field(default_factory=_ownership)

    def originator(self, source: str) -> str:
        return self.originator_id.replace("{source}", source)

    def create_only(self, entity: str) -> frozenset[str]:
        """Fields of ``entity`` the bridge sets only when it creates the record."""
        owned = self.ownership.get(entity)  # type: ignore[call-overload]
        return frozenset(owned.create_only) if owned is not None else frozenset()


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
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {_say(err)}" for err in exc.errors()
        )
        raise ConfigError(f"{origin}: {problems}") from None


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
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"mapping file {path}: cannot read it: {exc.strerror}") from exc
    return parse(text, str(path))
