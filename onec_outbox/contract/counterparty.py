"""Payload of ``counterparty.upserted``: a Контрагент with addresses, bank accounts and contact persons.

UT 10.3 has only ЮрЛицо/ФизЛицо; the 1C module derives ``legal_form`` from ИНН and КПП (10-digit ИНН →
company, 12-digit ИНН without КПП → individual_entrepreneur, ФизЛицо → person).  What a real base may lack
is optional: a company's ИНН (foreign companies, old cards), addresses, contacts.  What is present must be
right (checksums), because a wrong ИНН or account in Bitrix24 ends up on invoices.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, TypeAdapter, ValidationError, model_validator

from onec_outbox.contract import checksums
from onec_outbox.contract.base import ContractModel, Payload, Problems
from onec_outbox.contract.fields import (
    AccountNumber,
    Bik,
    CorrAccountNumber,
    Currency,
    Email,
    Inn,
    Kpp,
    Name,
    Ogrn,
    Ref,
    optional,
    requisite_message,
)

LegalForm = Literal["company", "individual_entrepreneur", "person"]

_FORM_RU = {
    "company": "организации (legal_form=company)",
    "individual_entrepreneur": "индивидуального предпринимателя (legal_form=individual_entrepreneur)",
    "person": "физического лица (legal_form=person)",
}


def _text(ru_en: str) -> Any:
    """An optional free-text field (1C may leave it empty)."""
    return Field(default=None, description=ru_en)


class Address(ContractModel):
    """An address from РегистрСведений.КонтактнаяИнформация (Поле1…Поле9 of a Russian address)."""

    presentation: Name = Field(description="Представление адреса / the address as one line")
    postal_code: str | None = _text("Индекс (Поле1) / postal code")
    region: str | None = _text("Регион (Поле2) / region")
    district: str | None = _text("Район (Поле3) / district")
    city: str | None = _text("Город (Поле4) / city")
    settlement: str | None = _text("Населённый пункт (Поле5) / settlement")
    street: str | None = _text("Улица (Поле6) / street")
    house: str | None = _text("Дом (Поле7) / house")
    building: str | None = _text("Корпус (Поле8) / building")
    apartment: str | None = _text("Квартира, офис (Поле9) / apartment or office")
    country: str | None = _text("Страна (для иностранного адреса) / country")


class BankAccount(ContractModel):
    """Справочник.БанковскиеСчета of the counterparty, with its bank from Справочник.Банки."""

    account: AccountNumber = Field(description="Номер счёта, 20 цифр / settlement account number")
    bank_name: Name = Field(description="Наименование банка / bank name")
    bik: Bik = Field(description="БИК банка (Банк.Код), 9 цифр / bank identification code")
    corr_account: optional(CorrAccountNumber) = Field(
        default=None,
        description="Корр. счёт банка (Банк.КоррСчет); у РКЦ может отсутствовать / correspondent account",
    )
    currency: Currency = Field(description="Валюта счёта, ISO 4217 / account currency")
    is_main: StrictBool = Field(description="Это Контрагент.ОсновнойБанковскийСчет / the main account")

    @model_validator(mode="after")
    def _control_keys(self) -> BankAccount:
        problems = Problems()
        if (reason := checksums.account_valid(self.account, self.bik)) is not None:
            problems.add("account", reason.code, requisite_message("Счёт", self.account, reason))
        if self.corr_account and (reason := checksums.corr_account_valid(self.corr_account, self.bik)):
            problems.add(
                "corr_account", reason.code, requisite_message("Корр. счёт", self.corr_account, reason)
            )
        problems.raise_if_any()
        return self


def _require_a_name(problems: Problems, last_name: str | None, first_name: str | None, who: str) -> None:
    if not (last_name or "").strip() and not (first_name or "").strip():
        problems.add(
            "last_name",
            "name_missing",
            f"у {who} должна быть заполнена фамилия или имя (last_name / first_name)",
        )


LEGAL_FORM_FIELDS = ("legal_form", "inn", "kpp", "ogrn", "last_name", "first_name")


def legal_form_problems(problems: Problems, values: dict[str, Any]) -> None:
    """The rules that tie the requisites to the legal form, over the fields' validated values.  A field absent
    from ``values`` (it failed its own validation) leaves out the rules that read it, so the other rules are
    still reported beside its error (:func:`problems_beside_field_errors`)."""
    if "legal_form" not in values:
        return
    form = values["legal_form"]
    who = _FORM_RU[form]
    inn, kpp, ogrn = values.get("inn"), values.get("kpp"), values.get("ogrn")
    want_inn = 10 if form == "company" else 12
    if "inn" in values and inn is not None and len(inn) != want_inn:
        problems.add("inn", "inn_legal_form", f"ИНН «{inn}»: у {who} ИНН из {want_inn} цифр, а передано {len(inn)}")
    if "inn" in values and form == "individual_entrepreneur" and inn is None:
        problems.add("inn", "inn_required", f"ИНН обязателен у {who}: 12 цифр")
    if {"inn", "kpp"} <= values.keys() and form == "company" and inn is not None and kpp is None:
        problems.add("kpp", "kpp_required", f"КПП обязателен у {who} с ИНН: 9 символов")
    if "kpp" in values and form != "company" and kpp is not None:
        problems.add("kpp", "kpp_not_allowed", f"КПП «{kpp}»: у {who} КПП не бывает, передайте null")
    if "ogrn" in values and ogrn is not None:
        want_ogrn = {"company": 13, "individual_entrepreneur": 15}.get(form)
        if want_ogrn is None:
            problems.add("ogrn", "ogrn_not_allowed", f"ОГРН «{ogrn}»: у {who} ОГРН не бывает")
        elif len(ogrn) != want_ogrn:
            problems.add(
                "ogrn",
                "ogrn_legal_form",
                f"ОГРН «{ogrn}»: у {who} ОГРН{'ИП' if want_ogrn == 15 else ''} из {want_ogrn} цифр",
            )
    if form == "person" and {"last_name", "first_name"} <= values.keys():
        _require_a_name(problems, values["last_name"], values["first_name"], who)


def problems_beside_field_errors(payload: Any, failed: set[str]) -> list[tuple[tuple[str | int, ...], str, str]]:
    """The legal-form rules over the fields of a payload that pydantic refused for other fields (``failed``:
    the payload's top-level field names with an error of their own): pydantic runs the model's rules only
    when every field is valid, so an admin would fix a bad e-mail, send again and only then learn that the
    КПП is missing.  Each field the rules read is validated on its own here."""
    if not isinstance(payload, dict):
        return []
    values: dict[str, Any] = {}
    for name in LEGAL_FORM_FIELDS:
        if name in failed:
            continue
        try:
            values[name] = _field_adapter(name).validate_python(payload.get(name))
        except ValidationError:
            continue  # reported already, or not at all: pydantic stopped before it
    problems = Problems()
    legal_form_problems(problems, values)
    return problems.items


@functools.cache
def _field_adapter(name: str) -> TypeAdapter:
    field = CounterpartyPayload.model_fields[name]
    return TypeAdapter(Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation)


class ContactPerson(ContractModel):
    """Справочник.КонтактныеЛицаКонтрагентов; 1C keeps one Наименование, the module splits it."""

    id: Ref = Field(description="УникальныйИдентификатор() контактного лица / contact person UUID")
    last_name: str | None = _text("Фамилия / last name")
    first_name: str | None = _text("Имя / first name")
    middle_name: str | None = _text("Отчество / middle name")
    position: str | None = _text("Должность / position")
    phones: list[str] = Field(description="Телефоны (представления) / phones as 1C presents them")
    emails: list[Email] = Field(description="Адреса электронной почты / e-mail addresses")
    city: str | None = _text("Город / city")

    @model_validator(mode="after")
    def _named(self) -> ContactPerson:
        problems = Problems()
        _require_a_name(problems, self.last_name, self.first_name, "контактного лица")
        problems.raise_if_any()
        return self


class CounterpartyPayload(Payload):
    """Справочник.Контрагенты."""

    name: Name = Field(description="Наименование / short name")
    full_name: str | None = _text("НаименованиеПолное / full legal name")
    legal_form: LegalForm = Field(
        description="company — организация (ЮрЛицо, ИНН 10 цифр), individual_entrepreneur — ИП "
        "(ИНН 12 цифр, без КПП), person — физическое лицо / legal form"
    )
    inn: optional(Inn) = Field(
        default=None, description="ИНН: 10 цифр у организации, 12 у ИП и физлица; обязателен для ИП / tax id"
    )
    kpp: optional(Kpp) = Field(
        default=None, description="КПП, 9 символов; обязателен у организации с ИНН, запрещён у ИП и физлиц"
    )
    ogrn: optional(Ogrn) = Field(
        default=None,
        description="ОГРН (13 цифр) у организации, ОГРНИП (15 цифр) у ИП / state registration number",
    )
    phones: list[str] = Field(description="Телефоны (представления) / phones as 1C presents them")
    emails: list[Email] = Field(description="Адреса электронной почты / e-mail addresses")
    city: str | None = _text("Город (Поле4 адреса, иначе Поле5) / city")
    legal_address: Address | None = Field(default=None, description="Юридический адрес / legal address")
    actual_address: Address | None = Field(default=None, description="Фактический адрес / actual address")
    bank_accounts: list[BankAccount] = Field(description="Банковские счета / bank accounts")
    contact_persons: list[ContactPerson] = Field(description="Контактные лица / contact persons")
    last_name: str | None = _text("Фамилия (для person) / last name, for a person")
    first_name: str | None = _text("Имя (для person) / first name, for a person")
    middle_name: str | None = _text("Отчество (для person) / middle name, for a person")

    @model_validator(mode="after")
    def _legal_form_rules(self) -> CounterpartyPayload:
        problems = Problems()
        legal_form_problems(problems, {name: getattr(self, name) for name in LEGAL_FORM_FIELDS})
        mains = [i for i, account in enumerate(self.bank_accounts) if account.is_main]
        for index in mains[1:]:
            problems.add(
                ("bank_accounts", index, "is_main"),
                "main_account_duplicate",
                "основным (is_main=true) может быть только один банковский счёт",
            )
        problems.raise_if_any()
        return self
