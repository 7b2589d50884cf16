"""Contract errors as the 1C side reads them: a path, a stable code and a Russian message.

pydantic's own errors (missing field, wrong JSON type, bad UUID …) are translated here, in one place, so
no English library text reaches the 1C queue monitor.  Our validators already speak Russian; anything
unforeseen gets a generic Russian message and keeps a code.

The contract is a leaf: its errors are its own, not the bridge's.  The bridge decides what a violation
means for it (the ingest answers ``rejected``; the consumer wraps it in ``PoisonMessage``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, TypedDict

from onec_outbox.contract.base import FIELD_PROBLEMS
from onec_outbox.contract.fields import RUSSIAN, describe


class FieldError(TypedDict):
    path: str
    code: str
    message: str


class ContractViolation(Exception):
    """The event does not follow contract v1; ``errors`` say where and why (never stored in the outbox)."""

    reason = "contract_violation"  # a stable machine code (the consumer dead-letters it as invalid_event)

    def __init__(self, errors: list[FieldError], *, event_id: str | None = None) -> None:
        self.errors = errors
        self.event_id = event_id  # as sent, if it was a string: lets the ingest answer per event
        shown = "; ".join(f"{e['path'] or '(событие)'}: {e['message']}" for e in errors[:3])
        more = f" и ещё {len(errors) - 3}" if len(errors) > 3 else ""
        super().__init__(f"событие не соответствует контракту v1: {shown}{more}")


def path_of(loc: Iterable[str | int]) -> str:
    """``("payload", "bank_accounts", 0, "bik")`` → ``payload.bank_accounts[0].bik``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _listed(expected: str) -> str:
    """pydantic's ``'a', 'b' or 'c'`` → ``a, b, c``."""
    return ", ".join(re.findall(r"'([^']*)'", expected)) or expected


def _uuid_message(err: dict[str, Any]) -> str:
    return (
        f"ожидался UUID вида 9d3b7c1e-2f4a-11ef-8b1a-00155d012a07, получено: {describe(err.get('input'))} "
        "(в 1С: Строка(Ссылка.УникальныйИдентификатор()))"
    )


_Translation = tuple[str, Callable[[dict[str, Any]], str]]

# pydantic error type → (our code, Russian message).  Only types our models can produce are listed;
# the rest fall back to "invalid_value".
_PYDANTIC: dict[str, _Translation] = {
    "missing": ("required", lambda e: "обязательное поле отсутствует"),
    "string_type": ("not_a_string", lambda e: f"ожидалась строка, получено: {describe(e.get('input'))}"),
    "bool_type": (
        "not_a_boolean",
        lambda e: f"ожидалось true или false, получено: {describe(e.get('input'))}",
    ),
    "int_type": ("not_an_integer", lambda e: f"ожидалось целое число, получено: {describe(e.get('input'))}"),
    "list_type": (
        "not_an_array",
        lambda e: (
            f"ожидался массив (если значений нет — пустой массив []), получено: {describe(e.get('input'))}"
        ),
    ),
    "model_type": ("not_an_object", lambda e: f"ожидался объект, получено: {describe(e.get('input'))}"),
    "model_attributes_type": (
        "not_an_object",
        lambda e: f"ожидался объект, получено: {describe(e.get('input'))}",
    ),
    "dict_type": ("not_an_object", lambda e: f"ожидался объект, получено: {describe(e.get('input'))}"),
    "uuid_type": ("invalid_uuid", _uuid_message),
    "uuid_parsing": ("invalid_uuid", _uuid_message),
    "uuid_version": ("invalid_uuid", _uuid_message),
    "string_too_short": ("too_short", lambda e: f"строка короче {e['ctx']['min_length']} символов"),
    "string_too_long": (
        "too_long",
        lambda e: f"строка длиннее {e['ctx']['max_length']} символов (передано {len(e.get('input') or '')})",
    ),
    "too_short": ("too_few_items", lambda e: f"нужно не меньше {e['ctx']['min_length']} элементов"),
    "too_long": ("too_many_items", lambda e: f"допускается не больше {e['ctx']['max_length']} элементов"),
    "literal_error": (
        "not_allowed",
        lambda e: (
            f"недопустимое значение: {describe(e.get('input'))}; допустимы: {_listed(e['ctx']['expected'])}"
        ),
    ),
    "greater_than_equal": (
        "out_of_range",
        lambda e: f"значение {e.get('input')!r} меньше допустимого {e['ctx']['ge']}",
    ),
    "less_than_equal": (
        "out_of_range",
        lambda e: f"значение {e.get('input')!r} больше допустимого {e['ctx']['le']}",
    ),
    "string_pattern_mismatch": (
        "invalid_format",
        lambda e: f"значение «{e.get('input')}» не соответствует формату {e['ctx']['pattern']}",
    ),
}

_NULL_IS_MISSING = {
    "string_type",
    "bool_type",
    "int_type",
    "list_type",
    "model_type",
    "model_attributes_type",
    "dict_type",
    "uuid_type",
    "literal_error",
}


def _translate_one(err: dict[str, Any]) -> list[FieldError]:
    kind, loc, ctx = err["type"], err["loc"], err.get("ctx") or {}
    if kind == FIELD_PROBLEMS:
        return [
            FieldError(path=path_of((*loc, *sub)), code=code, message=message)
            for sub, code, message in ctx["problems"]
        ]
    if RUSSIAN in ctx:  # raised by fields.fail(): the type is our code, the text is already Russian
        return [FieldError(path=path_of(loc), code=kind, message=ctx[RUSSIAN])]
    if err.get("input", ...) is None and kind in _NULL_IS_MISSING and loc:
        return [
            FieldError(path=path_of(loc), code="required", message="обязательное поле: null не допускается")
        ]
    if kind in _PYDANTIC:
        code, message = _PYDANTIC[kind]
        return [FieldError(path=path_of(loc), code=code, message=message(err))]
    return [
        FieldError(
            path=path_of(loc),
            code="invalid_value",
            message=f"недопустимое значение: {describe(err.get('input'))}",
        )
    ]


def translate(
    errors: Iterable[dict[str, Any]], *, drop_first: Callable[[Any], bool] = lambda part: False
) -> list[FieldError]:
    """pydantic's ``ValidationError.errors()``, in order, as ``FieldError`` dicts.

    ``drop_first`` removes a leading location part (the discriminator tag pydantic puts in front).
    """
    out: list[FieldError] = []
    for err in errors:
        loc = err["loc"]
        if loc and drop_first(loc[0]):
            err = {**err, "loc": loc[1:]}
        out.extend(_translate_one(err))
    return out
