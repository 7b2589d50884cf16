"""What every contract model shares: forward compatibility, immutability, and cross-field problems.

``extra="allow"``: contract v1 "may gain optional fields", so a newer 1C module may send fields this
bridge does not know yet.  They are accepted and kept (stored with the event), never rejected.

Rules that involve several fields (ИНН length vs. legal form, account key vs. БИК) are checked after
the fields themselves; :func:`problems` reports them against the field they concern, so the 1C side
reads ``payload.kpp`` rather than ``payload``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool
from pydantic_core import PydanticCustomError

from onec_outbox.contract.fields import Date, Name

FIELD_PROBLEMS = "field_problems"


class ContractModel(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Payload(ContractModel):
    """The full current state of one 1C object; every payload says whether it is marked for deletion."""

    deleted: StrictBool = Field(description="ПометкаУдаления / marked for deletion in 1C")


class DocumentPayload(Payload):
    """A 1C document: number, date and whether it is posted."""

    number: Name = Field(
        description="Номер документа, как в 1С (с префиксом) / document number as shown in 1C"
    )
    date: Date = Field(description="Дата документа, ГГГГ-ММ-ДД / document date")
    posted: StrictBool = Field(description="Проведён / posted")


class Problems:
    """Collects cross-field problems as ``(location, code, message)`` and raises them together."""

    def __init__(self) -> None:
        self.items: list[tuple[tuple[str | int, ...], str, str]] = []

    def add(self, loc: str | tuple[str | int, ...], code: str, message: str) -> None:
        self.items.append(((loc,) if isinstance(loc, str) else loc, code, message))

    def raise_if_any(self) -> None:
        if self.items:
            # Expanded into one error per field by errors.translate(); the text is only a fallback.
            raise PydanticCustomError(
                FIELD_PROBLEMS,
                "{summary}",
                {"summary": "; ".join(m for _, _, m in self.items), "problems": list(self.items)},
            )
