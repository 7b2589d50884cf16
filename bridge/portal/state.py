"""What a Bitrix24 portal holds that the mapping file refers to, as plain values (no I/O here).

:mod:`bridge.portal.remote` fills a :class:`PortalState` from the REST replies (``*_from`` below turn one
reply row into one value); :mod:`bridge.portal.plan` compares it with the mapping.  A section the webhook
could not read (missing scope, no access) is ``None`` and its reason is in ``unreadable``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

Semantics = Literal["P", "S", "F"]  # in progress, success, failure (crm.status SEMANTICS null / "S" / "F")


@dataclass(frozen=True)
class Funnel:
    id: int
    name: str


@dataclass(frozen=True)
class StageRow:
    status_id: str  # with the C{N}: prefix in funnel N
    name: str
    sort: int
    semantics: Semantics = "P"

    @property
    def final(self) -> bool:
        return self.semantics != "P"


@dataclass(frozen=True)
class UserField:
    field_name: str
    user_type: str
    xml_id: str | None = None
    multiple: bool = False
    label: str = ""


@dataclass(frozen=True)
class Preset:
    id: int
    name: str
    xml_id: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Catalog:
    iblock_id: int
    name: str
    product_iblock_id: int | None = None  # set on an offers (SKU) catalog: the products' iblock

    @property
    def offers(self) -> bool:
        return self.product_iblock_id is not None


@dataclass(frozen=True)
class PriceType:
    id: int
    name: str
    xml_id: str | None = None
    base: bool = False


@dataclass(frozen=True)
class User:
    id: int
    name: str
    active: bool = True


@dataclass(frozen=True)
class CompanyType:
    status_id: str
    name: str


@dataclass(frozen=True)
class PortalState:
    """The portal as the mapping sees it; ``stages`` are those of funnel ``stages_funnel`` (the mapping's
    default one), ``funnel_stages`` those of every other funnel the mapping names (deals.funnels)."""

    funnels: tuple[Funnel, ...] | None = ()
    stages_funnel: int = 0
    stages: tuple[StageRow, ...] | None = ()
    funnel_stages: dict[int, tuple[StageRow, ...]] | None = field(default_factory=dict)
    user_fields: tuple[UserField, ...] | None = ()
    presets: tuple[Preset, ...] | None = ()
    company_types: tuple[CompanyType, ...] | None = ()
    catalogs: tuple[Catalog, ...] | None = ()
    price_types: tuple[PriceType, ...] | None = ()
    users: dict[int, User] | None = field(default_factory=dict)  # only the users the mapping names
    unreadable: dict[str, str] = field(default_factory=dict)  # section → why it could not be read

    def funnel(self, funnel_id: int) -> Funnel | None:
        return next((f for f in self.funnels or () if f.id == funnel_id), None)

    def stages_of(self, funnel_id: int) -> tuple[StageRow, ...] | None:
        if funnel_id == self.stages_funnel:
            return self.stages
        return None if self.funnel_stages is None else self.funnel_stages.get(funnel_id, ())

    def stage(self, status_id: str, funnel_id: int | None = None) -> StageRow | None:
        rows = self.stages_of(self.stages_funnel if funnel_id is None else funnel_id)
        return next((s for s in rows or () if s.status_id == status_id), None)

    def user_field(self, field_name: str) -> UserField | None:
        return next((f for f in self.user_fields or () if f.field_name == field_name), None)

    def with_stage(self, stage: StageRow, funnel_id: int | None = None) -> PortalState:
        funnel = self.stages_funnel if funnel_id is None else funnel_id
        rows = tuple(sorted((*(self.stages_of(funnel) or ()), stage), key=lambda s: s.sort))
        if funnel == self.stages_funnel:
            return replace(self, stages=rows)
        return replace(self, funnel_stages={**(self.funnel_stages or {}), funnel: rows})

    def with_user_field(self, uf: UserField) -> PortalState:
        return replace(self, user_fields=(*(self.user_fields or ()), uf))


def stage_entity(funnel_id: int) -> str:
    """The crm.status ENTITY_ID of a funnel's stages."""
    return "DEAL_STAGE" if funnel_id == 0 else f"DEAL_STAGE_{funnel_id}"


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _flag(value: Any) -> bool:
    return value is True or str(value).upper() in ("Y", "TRUE", "1")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _label(value: Any) -> str:
    if isinstance(value, dict):
        return _text(value.get("ru") or value.get("en") or next(iter(value.values()), ""))
    return _text(value)


def funnel_from(row: dict[str, Any]) -> Funnel:
    return Funnel(_int(row.get("id", row.get("ID"))), _text(row.get("name", row.get("NAME"))))


def stage_from(row: dict[str, Any]) -> StageRow:
    semantics = _text(row.get("SEMANTICS")).upper()
    return StageRow(_text(row.get("STATUS_ID")), _text(row.get("NAME")), _int(row.get("SORT")),
                    semantics if semantics in ("S", "F") else "P")


def user_field_from(row: dict[str, Any]) -> UserField:
    label = row.get("EDIT_FORM_LABEL") or row.get("LIST_COLUMN_LABEL") or row.get("LABEL")
    return UserField(_text(row.get("FIELD_NAME")), _text(row.get("USER_TYPE_ID")), row.get("XML_ID") or None,
                     _flag(row.get("MULTIPLE")), _label(label))


def preset_from(row: dict[str, Any]) -> Preset:
    active = row.get("ACTIVE")
    return Preset(_int(row.get("ID")), _text(row.get("NAME")), row.get("XML_ID") or None,
                  True if active is None else _flag(active))


def company_type_from(row: dict[str, Any]) -> CompanyType:
    return CompanyType(_text(row.get("STATUS_ID")), _text(row.get("NAME")))


def catalog_from(row: dict[str, Any]) -> Catalog:
    product = _int(row.get("productIblockId"), 0)
    return Catalog(_int(row.get("iblockId", row.get("id"))), _text(row.get("name")), product or None)


def price_type_from(row: dict[str, Any]) -> PriceType:
    return PriceType(_int(row.get("id")), _text(row.get("name")), row.get("xmlId") or None, _flag(row.get("base")))


def user_from(row: dict[str, Any]) -> User:
    name = " ".join(p for p in (_text(row.get("NAME")), _text(row.get("LAST_NAME"))) if p)
    active = row.get("ACTIVE")
    return User(_int(row.get("ID")), name or _text(row.get("EMAIL")), True if active is None else _flag(active))
