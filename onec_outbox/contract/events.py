"""The event envelope, the six event types, and the one entry point the ingest calls: :func:`parse_event`.

``event_type`` picks the payload model (a discriminated union), so an ``invoice.upserted`` carrying a
counterparty is reported on the invoice fields it lacks.  The union is compiled once into a module-level
``TypeAdapter``; parsing an event is one call into pydantic-core plus our small field validators.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, TypeAdapter, ValidationError
from pydantic.json_schema import DEFAULT_REF_TEMPLATE

from onec_outbox.contract.base import ContractModel, Payload
from onec_outbox.contract.counterparty import CounterpartyPayload, problems_beside_field_errors
from onec_outbox.contract.documents import (
    CustomerOrderPayload,
    InvoicePayload,
    PaymentPayload,
    ShipmentPayload,
)
from onec_outbox.contract.errors import ContractViolation, FieldError, path_of, translate
from onec_outbox.contract.fields import AwareDatetime, InfobaseId, Ref, describe
from onec_outbox.contract.product import ProductPayload

ENTITIES: tuple[str, ...] = ("counterparty", "product", "customer_order", "invoice", "payment", "shipment")
EVENT_TYPES: tuple[str, ...] = tuple(f"{entity}.upserted" for entity in ENTITIES)
MAX_VERSION = 2**63 - 1  # PostgreSQL bigint


class Event(ContractModel):
    """One change of one 1C object: who sent it, which object, which version, and its full state."""

    event_id: Ref = Field(description="Уникальный id события (создаётся 1С при записи в очередь) / event id")
    event_type: str = Field(description="<сущность>.upserted / event type, <entity>.upserted")
    source: InfobaseId = Field(
        description="Идентификатор информационной базы 1С, 1–64 символа / 1C infobase id"
    )
    entity_id: Ref = Field(description="УникальныйИдентификатор() объекта 1С / the 1C object's UUID")
    version: StrictInt = Field(
        ge=0,
        le=MAX_VERSION,
        description="Версия объекта в этой базе: больше — новее / grows with every change of the object",
    )
    occurred_at: AwareDatetime = Field(
        description="Момент записи в 1С, ISO-8601 со смещением / when the change was committed in 1C"
    )
    payload: Payload = Field(description="Полное текущее состояние объекта / full current snapshot")

    @property
    def entity(self) -> str:
        """``counterparty``, ``product`` …: the part of ``event_type`` before ``.upserted``."""
        return self.event_type.removesuffix(".upserted")


_TYPE = "Тип события / event type"
_PAYLOAD = "Полное текущее состояние объекта / full current snapshot"


class CounterpartyEvent(Event):
    event_type: Literal["counterparty.upserted"] = Field(description=_TYPE)
    payload: CounterpartyPayload = Field(description=_PAYLOAD)


class ProductEvent(Event):
    event_type: Literal["product.upserted"] = Field(description=_TYPE)
    payload: ProductPayload = Field(description=_PAYLOAD)


class CustomerOrderEvent(Event):
    event_type: Literal["customer_order.upserted"] = Field(description=_TYPE)
    payload: CustomerOrderPayload = Field(description=_PAYLOAD)


class InvoiceEvent(Event):
    event_type: Literal["invoice.upserted"] = Field(description=_TYPE)
    payload: InvoicePayload = Field(description=_PAYLOAD)


class PaymentEvent(Event):
    event_type: Literal["payment.upserted"] = Field(description=_TYPE)
    payload: PaymentPayload = Field(description=_PAYLOAD)


class ShipmentEvent(Event):
    event_type: Literal["shipment.upserted"] = Field(description=_TYPE)
    payload: ShipmentPayload = Field(description=_PAYLOAD)


PAYLOADS: dict[str, type[Payload]] = {
    "counterparty": CounterpartyPayload,
    "product": ProductPayload,
    "customer_order": CustomerOrderPayload,
    "invoice": InvoicePayload,
    "payment": PaymentPayload,
    "shipment": ShipmentPayload,
}
EVENT_CLASSES: dict[str, type[Event]] = {
    "counterparty": CounterpartyEvent,
    "product": ProductEvent,
    "customer_order": CustomerOrderEvent,
    "invoice": InvoiceEvent,
    "payment": PaymentEvent,
    "shipment": ShipmentEvent,
}

AnyEvent = Annotated[
    CounterpartyEvent | ProductEvent | CustomerOrderEvent | InvoiceEvent | PaymentEvent | ShipmentEvent,
    Field(discriminator="event_type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(AnyEvent)


class _UnknownTypeEnvelope(Event):
    """Used only after the type was refused, to report the envelope's other problems in the same answer."""

    payload: dict[str, Any]


_ENVELOPE_ADAPTER = TypeAdapter(_UnknownTypeEnvelope)


def _event_type_error(data: Any) -> FieldError:
    allowed = ", ".join(EVENT_TYPES)
    value = data.get("event_type")
    if value is None:
        return FieldError(
            path="event_type",
            code="required",
            message=f"не указан тип события event_type; допустимы: {allowed}",
        )
    return FieldError(
        path="event_type",
        code="unknown_event_type",
        message=f"неизвестный тип события: {describe(value)}; допустимы: {allowed}",
    )


def _is_tag(part: Any) -> bool:
    return part in EVENT_TYPES


MAX_DEPTH = 16  # v1 events nest four levels; anything far deeper is not an event
MAX_STRING = 100_000  # characters in one string (a 1C comment fits; a 10 MB name is not a name)
MAX_ITEMS = 10_000  # elements in one array (document rows, phones, unknown lists alike)
_FIELD_NAME = re.compile(r"[a-z_]+")
_UNSTORABLE_CHAR = re.compile("[\x00\ud800-\udfff]")  # NUL, or half of a surrogate pair


class UnreadableNumber:
    """A JSON number the decoder could not turn into a value without changing it (a 5,000-digit integer,
    ``1e400``, ``NaN``): kept as a marker so the event is rejected at this field, never the request."""

    def __init__(self, text: str, why: str) -> None:
        self.text = text if len(text) <= 40 else text[:37] + "…"
        self.why = why

    def __repr__(self) -> str:
        return self.text


def _problem(path: str, code: str, message: str) -> dict[str, str]:
    return {"path": path or "(событие)", "code": code, "message": message}


def _unstorable(data: object, path: str = "", depth: int = 0) -> list[dict[str, str]]:
    """What PostgreSQL or the bridge cannot store faithfully, anywhere in the event, unknown fields
    included: text with NUL or half a surrogate pair, numbers that do not fit, strings, arrays and nesting
    over the limits.  Such an event must be rejected on its own, or the whole batch it came in could never
    be stored and 1C would resend it forever."""
    if depth > MAX_DEPTH:
        return [_problem(path, "too_deep", f"Вложенность глубже {MAX_DEPTH} уровней: это не событие контракта v1")]
    found: list[dict[str, str]] = []
    if isinstance(data, str):
        if len(data) > MAX_STRING:
            found.append(_problem(path, "too_long", f"строка длиннее {MAX_STRING} символов (передано {len(data)})"))
        elif _UNSTORABLE_CHAR.search(data):
            found.append(_problem(path, "invalid_character",
                                  "Недопустимый символ в строке (NUL или половина суррогатной пары, например "
                                  "обрезанный эмодзи): уберите его в 1С"))
    elif isinstance(data, dict):
        for key, value in data.items():
            # a field path names contract-like keys; under any other key the problem is reported at the parent
            where = (f"{path}.{key}" if path else key) if _FIELD_NAME.fullmatch(str(key)) else path
            found += _unstorable(key, path, depth) + _unstorable(value, where, depth + 1)  # a key is as deep as its object
    elif isinstance(data, list):
        if len(data) > MAX_ITEMS:
            return [_problem(path, "too_many_items",
                             f"массив из {len(data)} элементов; допускается не больше {MAX_ITEMS}")]
        for i, value in enumerate(data):
            found += _unstorable(value, f"{path}[{i}]", depth + 1)
    elif isinstance(data, UnreadableNumber):
        found.append(_problem(path, "number_unrepresentable", f"число {data.text}: {data.why}"))
    elif isinstance(data, float) and not math.isfinite(data):
        found.append(_problem(path, "number_unrepresentable",
                              f"число {data!r} не может быть сохранено: допускаются конечные числа JSON"))
    return found


def unstorable(data: object) -> list[dict[str, str]]:
    """Every problem :func:`parse_event` refuses before the contract's own rules (NUL or half a surrogate
    pair in any string or key, numbers, lengths, nesting), each as ``{"path", "code", "message"}``: for
    other JSON the bridge keeps or answers with (the heartbeat)."""
    return [] if _clean(data) else _unstorable(data)


def _clean(data: object) -> bool:
    """True when :func:`_unstorable` would find nothing, decided without building a single path: the
    common case, walked fast, every string's characters checked in one search at the end.  Anything
    unusual (a float, a marker, a subclass) is left to the exact walk."""
    strings: list[str] = []
    return _plain(data, 0, strings) and not _UNSTORABLE_CHAR.search("".join(strings))


def _plain(data: object, depth: int, strings: list[str]) -> bool:
    kind = type(data)
    if kind is str:
        strings.append(data)  # type: ignore[arg-type]
        return len(data) <= MAX_STRING  # type: ignore[arg-type]
    if kind is int or kind is bool or data is None:
        return True
    keep = strings.append
    if kind is dict:
        if data and depth >= MAX_DEPTH:  # type: ignore[truthy-bool]
            return False
        for key, value in data.items():  # type: ignore[attr-defined]
            if type(key) is not str or len(key) > MAX_STRING:
                return False
            keep(key)
            kind = type(value)
            if kind is str:
                if len(value) > MAX_STRING:
                    return False
                keep(value)
            elif not (kind is int or kind is bool or value is None or _plain(value, depth + 1, strings)):
                return False
        return True
    if kind is list:
        if len(data) > MAX_ITEMS or (data and depth >= MAX_DEPTH):  # type: ignore[arg-type]
            return False
        for value in data:  # type: ignore[attr-defined]
            kind = type(value)
            if kind is str:
                if len(value) > MAX_STRING:
                    return False
                keep(value)
            elif not (kind is int or kind is bool or value is None or _plain(value, depth + 1, strings)):
                return False
        return True
    return not _unstorable(data, "", depth)


def parse_event(data: object) -> Event:
    """Validate one decoded JSON event against contract v1.

    Returns the typed event (``CounterpartyEvent`` …, all subclasses of :class:`Event`); raises
    :class:`ContractViolation` with every problem found, each as ``{"path", "code", "message"}``.
    """
    problems = unstorable(data)
    if problems:
        event_id = data.get("event_id") if isinstance(data, dict) else None
        raise ContractViolation(problems, event_id=event_id if isinstance(event_id, str) else None)
    try:
        return EVENT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raw = exc.errors(include_url=False)
        if raw[0]["type"] in ("union_tag_invalid", "union_tag_not_found") and isinstance(data, dict):
            errors = [_event_type_error(data)]
            try:
                _ENVELOPE_ADAPTER.validate_python({**data, "event_type": ""})
            except ValidationError as envelope_exc:
                errors += translate(envelope_exc.errors(include_url=False))
        else:
            errors = translate(raw, drop_first=_is_tag)
            errors += _cross_field_beside(data, errors)
        event_id = data.get("event_id") if isinstance(data, dict) else None
        raise ContractViolation(errors, event_id=event_id if isinstance(event_id, str) else None) from None


def _cross_field_beside(data: object, errors: list[FieldError]) -> list[FieldError]:
    """A counterparty's legal-form rules (КПП required, ИНН length …) when pydantic did not run them because
    another payload field failed: every problem in one answer, not one round per fix."""
    if not (isinstance(data, dict) and str(data.get("event_type", "")).startswith("counterparty.")):
        return []
    failed = {e["path"].split(".", 2)[1].split("[", 1)[0] for e in errors if e["path"].startswith("payload.")}
    if not failed:
        return []  # the payload's fields were all valid: its rules ran (or the payload itself is not an object)
    known = {(e["path"], e["code"]) for e in errors}
    extra = [FieldError(path=path_of(("payload", *loc)), code=code, message=message)
             for loc, code, message in problems_beside_field_errors(data.get("payload"), failed)]
    return [e for e in extra if (e["path"], e["code"]) not in known]


def parse_stored_event(body: bytes | str) -> Event:
    """Read back an event the ingest accepted (:func:`parse_event`) and stored (:func:`event_to_json`).

    One pass in pydantic-core — JSON decoding and validation together — without the generic walk for
    unstorable values (what was stored is storable) and without building a dict first.  Anything that does
    not validate is reported exactly as :func:`parse_event` reports it (a body that is not JSON raises
    ``ValueError``).
    """
    try:
        return EVENT_ADAPTER.validate_json(body)
    except ValidationError:
        return parse_event(json.loads(body))


def event_json_schema(ref_template: str = DEFAULT_REF_TEMPLATE) -> dict[str, Any]:
    """JSON Schema of an event (all six types, chosen by ``event_type``), e.g. for the ingest's OpenAPI.

    ``ref_template`` places the nested definitions (``"#/components/schemas/{model}"`` for OpenAPI).
    """
    return EVENT_ADAPTER.json_schema(ref_template=ref_template)


def event_to_json(event: Event) -> dict[str, Any]:
    """The event as JSON-ready data for storage: money as strings, dates ISO, unknown fields kept."""
    return event.model_dump(mode="json")
