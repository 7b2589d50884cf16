"""The ingest's answers as models, so the OpenAPI document declares exactly what ``/v1/events`` returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class FieldProblem(BaseModel):
    path: str = Field(description="Where in the event: payload.bank_accounts[0].bik, or (событие) for the whole")
    code: str = Field(description="Stable machine code: inn_checksum, too_long, number_unrepresentable …")
    message: str = Field(description="What to fix, in Russian, for the 1C queue monitor")


class EventResult(BaseModel):
    event_id: str | int | None = Field(
        description="The event_id as sent: a string spelled as sent, an integer as the integer, else null")
    status: Literal["accepted", "duplicate", "rejected"] = Field(
        description="accepted: stored now; duplicate: already stored (first write wins); rejected: see errors")
    errors: list[FieldProblem] = Field(description="Empty unless rejected")


class Results(BaseModel):
    results: list[EventResult] = Field(description="One result per event, in request order")


ERROR_CODES = ("invalid_json", "invalid_body", "invalid_heartbeat", "unauthorized", "forbidden_source", "body_timeout", "body_too_large",
               "batch_too_large", "too_many_values", "unsupported_media_type", "storage_unavailable",
               "internal_error", "not_found", "method_not_allowed", "http_error")


class ErrorBody(BaseModel):
    error: Literal[ERROR_CODES] = Field(description="Stable machine code of the refusal")  # type: ignore[valid-type]
    message: str = Field(description="What is wrong and what to do")
