"""The 1C sender's heartbeat (``POST /v1/heartbeat``): how the 1C side is doing, posted after every run.

Sent also when there is nothing to send, so the bridge tells "1C has nothing to say" (a fresh heartbeat,
``pending: 0``) from "1C stopped" (no heartbeat): a disabled scheduled job, a file-mode base with no
session, an expired token.  Counts describe 1C's own queue (registrations on the exchange-plan node) and
its delivery journal; the bridge keeps the latest heartbeat per ``source``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StrictInt, TypeAdapter, ValidationError

from onec_outbox.contract.base import ContractModel
from onec_outbox.contract.errors import ContractViolation, translate
from onec_outbox.contract.fields import InfobaseId, ShortText

MAX_COUNT = 2**31 - 1  # PostgreSQL integer
MAX_AGE = 10**12  # seconds (≈ 31,700 years): fits a bigint and is exact as a JSON number (2**63 - 1 is not: a
# client comparing in floating point would take 2**63 + 192 for it)


def _whole(value: Any) -> Any:
    """JSON does not tell 169 from 169.0 (both are integers to JSON Schema): take a whole float as an int;
    a string, a bool or a fraction still fails as not an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[StrictInt, BeforeValidator(_whole)]


class Heartbeat(ContractModel):
    """One run of the 1C sender: which base, which module on which platform, and its queue."""

    source: InfobaseId = Field(description="Идентификатор информационной базы 1С, как в событиях / 1C infobase id")
    module_version: ShortText = Field(
        description="Версия модуля Б24Мост в 1С, например 1.4.0 / version of the 1C module"
    )
    platform_version: ShortText = Field(
        description="Версия платформы 1С, например 8.3.24.1548 / 1C platform version"
    )
    pending: Count = Field(
        ge=0, le=MAX_COUNT, description="Изменений в очереди, ещё не принятых мостом / changes not yet sent"
    )
    oldest_pending_seconds: Count = Field(
        ge=0,
        le=MAX_AGE,
        description="Сколько секунд очередь не пустеет (0 — пуста): не меньше возраста самого старого "
        "изменения в ней / seconds since the queue was last seen empty, an upper bound of the oldest "
        "pending change's age",
    )
    rejected: Count = Field(
        ge=0, le=MAX_COUNT, description="Объектов в состоянии «Отклонено» / objects whose last send was rejected"
    )


HEARTBEAT_ADAPTER: TypeAdapter[Heartbeat] = TypeAdapter(Heartbeat)


def parse_heartbeat(data: Any) -> Heartbeat:
    """Validate one decoded heartbeat; raises :class:`ContractViolation` naming every bad field."""
    try:
        return HEARTBEAT_ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ContractViolation(translate(exc.errors(include_url=False))) from None


def heartbeat_json_schema() -> dict[str, Any]:
    return Heartbeat.model_json_schema()
