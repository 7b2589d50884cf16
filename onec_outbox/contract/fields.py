"""Field types of contract v1: how each kind of 1C value looks on the wire and what it rejects.

Every rejection raises a ``PydanticCustomError`` whose type is a stable English code and whose text is
Russian, addressed to the 1C programmer who wrote the sender (it shows up in the 1C queue monitor).
Validators are plain functions (no per-call model building) because the ingest checks up to 1000 events
per request.

Decisions a 1C developer should know (also in docs/contract.md):

* Money, prices, quantities and percents are decimal *strings* with a dot: ``"12500.00"``.  A JSON number is
  refused, because 1C's ``ЗаписатьJSON`` and the JSON parsers on the way turn it into a binary float.
  Places after the dot: money 2 (kopecks, 1C ``Число(15,2)``), prices 4, quantities 3 (1C ``Число(15,3)``),
  percents 2.  Money, prices and quantities are never negative in v1.
* Dates are ``YYYY-MM-DD``; datetimes are ISO-8601 with an offset (1C:
  ``ЗаписатьДатуJSON(…, ФорматДатыJSON.ISO, ВариантЗаписиДатыJSON.ЛокальнаяДатаСоСмещением)``).
  1C's empty date ``0001-01-01`` is refused with its own message.
* References are UUID strings.  1C's empty reference (all zeros) or ``""`` means "not filled": it becomes
  ``null`` in optional fields and is refused in required ones.
* Optional requisites (ИНН, КПП, ОГРН, корр. счёт) treat ``""`` and surrounding spaces as absent, since
  1C stores an empty string for an unfilled attribute.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Annotated, Any, NoReturn
from uuid import UUID

from pydantic import (
    AfterValidator,
    TypeAdapter,
    BeforeValidator,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from onec_outbox.contract import checksums
from onec_outbox.contract.checksums import Reason

NIL_UUID = "00000000-0000-0000-0000-000000000000"
RUSSIAN = "ru"  # context key that marks our own errors and holds their Russian text


def fail(code: str, message: str) -> NoReturn:
    """Reject the current value: ``code`` for machines, ``message`` (Russian) for the 1C side."""
    raise PydanticCustomError(code, "{ru}", {RUSSIAN: message})


def _shown(value: object) -> str:
    """A value as the 1C developer wrote it, cut short so one message stays one line."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def describe(value: object) -> str:
    """A decoded JSON value in Russian words, with the value itself when it is a scalar."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "логическое значение " + ("true" if value else "false")
    if isinstance(value, (int, float)):
        return f"число {_shown(value)}"
    if isinstance(value, str):
        return f"строка «{_shown(value)}»"
    if isinstance(value, (list, tuple)):
        return "массив"
    if isinstance(value, dict):
        return "объект"
    return type(value).__name__


# --- decimals ---------------------------------------------------------------------------------------

_DECIMAL = re.compile(r"-?(\d+)(?:\.(\d+))?", re.ASCII)
_INTEGER_DIGITS = 15  # the contract's limit (the schema's \d{1,15}); Bitrix24's DECIMAL(18,2) columns hold 16


@dataclass(frozen=True)
class DecimalRule:
    """What one kind of decimal accepts: places after the dot and the allowed range."""

    what: str  # Russian noun for messages: "сумма", "цена" …
    places: int
    example: str
    minimum: Decimal | None = Decimal(0)
    maximum: Decimal | None = None

    def json_schema(self) -> dict[str, Any]:
        sign = "-?" if self.minimum is None or self.minimum < 0 else ""
        return {
            "type": "string",
            "pattern": rf"^{sign}\d{{1,15}}(\.\d{{1,{self.places}}})?$",
            "examples": [self.example],
        }

    def __call__(self, value: object) -> Decimal:
        if isinstance(value, Decimal):  # Python callers (the simulator) may pass Decimals
            value = format(value, "f")
        if not isinstance(value, str):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                fail(
                    "decimal_not_string",
                    f"{self.what}: значение {_shown(value)} передано числом JSON; суммы, цены и количества "
                    f'передаются строкой с точкой, например "{self.example}"',
                )
            fail(
                "decimal_not_string",
                f'{self.what}: ожидалась строка с числом, например "{self.example}", получено: {describe(value)}',
            )
        match = _DECIMAL.fullmatch(value)
        if match is None:
            hint = ""
            if "," in value or " " in value or "\xa0" in value:
                hint = " (разделитель дробной части — точка, без пробелов между разрядами)"
            fail(
                "decimal_invalid",
                f'{self.what}: «{_shown(value)}» не является числом вида "{self.example}"{hint}',
            )
        whole, fraction = match.group(1), match.group(2)
        if len(whole) > _INTEGER_DIGITS:
            fail(
                "decimal_out_of_range",
                f"{self.what}: в значении «{_shown(value)}» больше {_INTEGER_DIGITS} цифр до точки "
                f"(допускается не более {_INTEGER_DIGITS})",
            )
        if fraction and len(fraction) > self.places:
            fail(
                "decimal_too_precise",
                f"{self.what}: в значении «{value}» допускается не более {self.places} знаков после точки",
            )
        number = Decimal(value)
        if value.startswith("-") and number == 0:  # stored as sent, "-0" would read back differently
            fail("decimal_negative", f"{self.what}: «{value}» — ноль записывается без минуса: «{value[1:]}»")
        if value.startswith("-") and self.minimum is not None and self.minimum >= 0:
            fail("decimal_negative", f"{self.what}: значение «{value}» не может быть отрицательным")
        if self.minimum is not None and number < self.minimum:
            if self.minimum == 0:
                fail("decimal_negative", f"{self.what}: значение «{value}» не может быть отрицательным")
            fail("decimal_out_of_range", f"{self.what}: значение «{value}» меньше допустимого {self.minimum}")
        if self.maximum is not None and number > self.maximum:
            fail("decimal_out_of_range", f"{self.what}: значение «{value}» больше допустимого {self.maximum}")
        return number


def _decimal_type(rule: DecimalRule) -> Any:
    return Annotated[
        Decimal,
        PlainValidator(rule),
        PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
        WithJsonSchema(rule.json_schema()),
    ]


MONEY = DecimalRule("сумма", 2, "12500.00")
PRICE = DecimalRule("цена", 4, "1250.50")
QUANTITY = DecimalRule("количество", 3, "1.500")
PERCENT = DecimalRule("процент", 2, "5.00", minimum=Decimal("-999.99"), maximum=Decimal(100))

Money = _decimal_type(MONEY)
Price = _decimal_type(PRICE)
Quantity = _decimal_type(QUANTITY)
Percent = _decimal_type(PERCENT)


# --- dates ------------------------------------------------------------------------------------------

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?", re.ASCII
)
_LONG_FRACTION = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.)(\d{7,})(Z|[+-]\d{2}:\d{2})?", re.ASCII)
_EMPTY_1C_YEAR = 1


def _empty_date(value: str) -> NoReturn:
    fail("empty_date", f"пустая дата 1С «{value}»: заполните дату в 1С")


def _date(value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        fail("date_type", f"дата должна быть строкой ГГГГ-ММ-ДД, получено: {describe(value)}")
    if not _DATE.fullmatch(value):
        fail(
            "date_format",
            f"дата «{_shown(value)}»: ожидается формат ГГГГ-ММ-ДД без времени, например 2026-11-27 "
            '(в 1С: Формат(Дата, "ДФ=yyyy-MM-dd"))',
        )
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        fail("date_invalid", f"дата «{value}» не существует")
    if parsed.year == _EMPTY_1C_YEAR:
        _empty_date(value)
    return parsed


def _datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            fail("datetime_naive", "дата и время без часового пояса: нужен момент со смещением")
        return value
    if not isinstance(value, str):
        fail("datetime_type", f"дата и время должны быть строкой ISO-8601, получено: {describe(value)}")
    match = _DATETIME.fullmatch(value)
    if match is None:
        if (long := _LONG_FRACTION.fullmatch(value)) is not None:
            offset = "" if long.group(3) else " и со смещением"
            fail(
                "datetime_format",
                f"дата и время «{_shown(value)}»: долей секунды не более 6 знаков{offset}, например "
                f"{long.group(1)}{long.group(2)[:6]}{long.group(3) or '+03:00'}",
            )
        fail(
            "datetime_format",
            f"дата и время «{_shown(value)}»: ожидается ISO-8601 со смещением, например "
            "2026-11-27T10:15:00+03:00",
        )
    if match.group(1) is None:
        fail(
            "datetime_naive",
            f"дата и время «{value}» без часового пояса: добавьте смещение, например {value}+03:00 "
            "(в 1С: ВариантЗаписиДатыJSON.ЛокальнаяДатаСоСмещением)",
        )
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail("datetime_invalid", f"дата и время «{value}» не существуют")
    if parsed.year == _EMPTY_1C_YEAR:
        _empty_date(value)
    try:  # 9999-12-31T23:59:59-00:01 is year 10000 in UTC: no timestamp (nor PostgreSQL) holds it
        parsed.astimezone(timezone.utc)
    except OverflowError:
        fail("datetime_out_of_range", f"дата и время «{value}» в UTC выходят за 9999 год")
    return parsed


Date = Annotated[
    date,
    PlainValidator(_date),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$", "examples": ["2026-11-27"]}
    ),
]
AwareDatetime = Annotated[
    datetime,
    PlainValidator(_datetime),
    PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$",
            "examples": ["2026-11-27T10:15:00+03:00"],
        }
    ),
]


# --- references ---------------------------------------------------------------------------------------


def _required_ref(value: UUID) -> UUID:
    if value.int == 0:
        fail("empty_ref", f"пустая ссылка 1С ({NIL_UUID}): поле обязательно, заполните его в 1С")
    return value


def _blank_ref(value: object) -> object:
    """``""`` is how the 1C module writes an unfilled reference too: the same ``empty_ref`` as the nil UUID."""
    if value == "":
        fail("empty_ref", "пустая ссылка 1С (\"\"): поле обязательно, заполните его в 1С")
    return value


def _empty_ref_to_none(value: object) -> object:
    if value == "" or value == NIL_UUID or (isinstance(value, UUID) and value.int == 0):
        return None
    return value


Ref = Annotated[UUID, BeforeValidator(_blank_ref), AfterValidator(_required_ref)]
OptionalRef = Annotated[
    Ref | None,
    BeforeValidator(_empty_ref_to_none),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "uuid"}, {"const": ""}, {"type": "null"}],
                    "description": "UUID; \"\" or the all-zero UUID: not filled"}),
]


# --- text ---------------------------------------------------------------------------------------------


def _not_blank(value: str) -> str:
    if not value.strip():
        fail("blank", "значение не может быть пустым")
    return value


Name = Annotated[str, AfterValidator(_not_blank), WithJsonSchema({"type": "string", "minLength": 1})]
InfobaseId = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_not_blank),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64, "examples": ["ut103-main"]}),
]

ShortText = Annotated[
    str,
    StringConstraints(max_length=64),
    AfterValidator(_not_blank),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 64}),
]

_CURRENCY = re.compile(r"[A-Z]{3}")


def _currency(value: str) -> str:
    if not _CURRENCY.fullmatch(value):
        fail(
            "currency_format",
            f"валюта «{_shown(value)}»: нужен буквенный код ISO 4217 заглавными латинскими буквами "
            "(RUB, USD, EUR), а не цифровой код или наименование из справочника Валюты",
        )
    return value


Currency = Annotated[
    str,
    AfterValidator(_currency),
    WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$", "examples": ["RUB"]}),
]

_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        hint = ""
        if "," in value or ";" in value or value.count("@") > 1:
            hint = "; несколько адресов передавайте отдельными элементами массива"
        fail("email_format", f"адрес электронной почты «{_shown(value)}» некорректен{hint}")
    return value


Email = Annotated[
    str,
    AfterValidator(_email),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$",
            "examples": ["info@romashka.example"],
        }
    ),
]


# --- Russian requisites -----------------------------------------------------------------------------


def _blank_to_none(value: object) -> object:
    if isinstance(value, str):
        return value.strip() or None
    return value


def requisite_message(label: str, value: str, reason: Reason) -> str:
    return f"{label} «{_shown(value)}»: {reason}"


def _requisite(check: Callable[[str], Reason | None], label: str, pattern: str, example: str) -> Any:
    def validate(value: str) -> str:
        if (reason := check(value)) is not None:
            fail(reason.code, requisite_message(label, value, reason))
        return value

    schema = {"type": "string", "pattern": pattern, "examples": [example]}
    return Annotated[str, AfterValidator(validate), WithJsonSchema(schema)]


_BLANK = {"type": "string", "pattern": r"^\s*$", "description": "не заполнено / not filled (1C's empty string)"}


def optional(requisite: Any) -> Any:
    """``requisite | None`` where ``""`` and spaces count as absent (1C's unfilled string); the JSON Schema
    says so too, so a schema-driven client or fuzzer sees what the validator accepts."""
    schema = {"anyOf": [TypeAdapter(requisite).json_schema(), _BLANK, {"type": "null"}]}
    return Annotated[requisite | None, BeforeValidator(_blank_to_none), WithJsonSchema(schema)]


def _ogrn(value: str) -> Reason | None:
    """ОГРН (13 digits) or ОГРНИП (15); which one the counterparty needs is checked in its model."""
    if len(value) == 15:
        return checksums.ogrnip_valid(value)
    if problem := checksums.digits_valid(value, (13, 15), "ogrn_format"):
        return problem
    return checksums.ogrn_valid(value)


Inn = _requisite(checksums.inn_valid, "ИНН", r"^(\d{10}|\d{12})$", "7707083893")
Kpp = _requisite(checksums.kpp_valid, "КПП", r"^\d{4}[\dA-Z]{2}\d{3}$", "773601001")
Ogrn = _requisite(_ogrn, "ОГРН", r"^(\d{13}|\d{15})$", "1027700132195")
Bik = _requisite(checksums.bik_valid, "БИК", r"^0[0-24]\d{7}$", "044525225")
# Only the format here: the control key needs the БИК, so BankAccount checks it.
AccountNumber = _requisite(
    lambda v: checksums.digits_valid(v, (20,), "account_format"), "Счёт", r"^\d{20}$", "40702810938000012345"
)
CorrAccountNumber = _requisite(
    lambda v: checksums.digits_valid(v, (20,), "corr_account_format"),
    "Корр. счёт",
    r"^\d{20}$",
    "30101810400000000225",
)
