"""Counterparty rules: requisites by legal form, bank accounts, contacts, e-mails."""

from __future__ import annotations

import pytest

from onec_outbox.contract import parse_event
from tests.contract.samples import event, payload_with, the_violation, violations

IE = {"legal_form": "individual_entrepreneur", "inn": "500100732259", "kpp": None, "ogrn": "304500116000157"}
PERSON = {"legal_form": "person", "inn": None, "kpp": None, "last_name": "Сидоров", "first_name": "Пётр"}


def bank_account(**fields):
    data = event()
    data["payload"]["bank_accounts"][0].update(fields)
    return data


def test_wrong_inn_checksum_names_the_value_and_the_expected_digit():
    assert the_violation(payload_with("counterparty", inn="7707083894")) == {
        "path": "payload.inn",
        "code": "inn_checksum",
        "message": "ИНН «7707083894»: неверное контрольное число (ожидалось 3)",
    }


def test_company_needs_a_ten_digit_inn():
    error = the_violation(payload_with("counterparty", inn="500100732259"))
    assert (error["path"], error["code"]) == ("payload.inn", "inn_legal_form")
    assert "10 цифр" in error["message"]


def test_company_with_inn_needs_a_kpp():
    error = the_violation(payload_with("counterparty", kpp=None))
    assert (error["path"], error["code"]) == ("payload.kpp", "kpp_required")


def test_the_legal_form_rules_are_reported_beside_another_field_s_error():
    """pydantic runs a model's rules only when every field is valid: without more, a bad e-mail hid the missing
    КПП until the admin fixed the e-mail and sent again."""
    errors = violations(payload_with("counterparty", kpp=None, emails=["not-an-email"]))
    assert {(e["path"], e["code"]) for e in errors} == {("payload.emails[0]", "email_format"),
                                                       ("payload.kpp", "kpp_required")}


@pytest.mark.parametrize(("fields", "expected"), [
    # the rules that read a field with its own error are left out, not reported twice or wrongly
    ({"kpp": "12"}, {("payload.kpp", "kpp_format")}),
    ({"inn": "12345", "kpp": None}, {("payload.inn", "inn_format")}),
    ({"legal_form": "partnership"}, {("payload.legal_form", "not_allowed")}),
    # every rule of the form at once
    ({"legal_form": "person", "last_name": None, "first_name": None, "ogrn": "1027700132195"},
     {("payload.inn", "inn_legal_form"), ("payload.kpp", "kpp_not_allowed"), ("payload.ogrn", "ogrn_not_allowed"),
      ("payload.last_name", "name_missing")}),
])
def test_beside_a_field_error_only_the_rules_over_valid_fields_are_reported(fields, expected):
    errors = violations(payload_with("counterparty", emails=["x"], **fields))
    assert {(e["path"], e["code"]) for e in errors} == {("payload.emails[0]", "email_format"), *expected}


def test_empty_string_from_1c_counts_as_a_missing_kpp():
    assert the_violation(payload_with("counterparty", kpp=""))["code"] == "kpp_required"


def test_company_without_inn_is_accepted_because_real_bases_have_foreign_and_unfinished_cards():
    parsed = parse_event(payload_with("counterparty", inn=None, kpp=None))
    assert parsed.payload.inn is None


def test_requisites_padded_with_spaces_by_1c_are_trimmed():
    parsed = parse_event(payload_with("counterparty", inn=" 7707083893 ", kpp="773601001  "))
    assert (parsed.payload.inn, parsed.payload.kpp) == ("7707083893", "773601001")


def test_kpp_of_wrong_shape_is_rejected():
    error = the_violation(payload_with("counterparty", kpp="77360100"))
    assert (error["path"], error["code"]) == ("payload.kpp", "kpp_format")
    assert "«77360100»" in error["message"]


def test_company_ogrn_is_checked_with_the_13_digit_rule():
    assert parse_event(payload_with("counterparty", ogrn="1027700132195")).payload.ogrn == "1027700132195"
    assert the_violation(payload_with("counterparty", ogrn="1027700132194"))["code"] == "ogrn_checksum"
    assert the_violation(payload_with("counterparty", ogrn="304500116000157"))["code"] == "ogrn_legal_form"


def test_individual_entrepreneur_with_12_digit_inn_and_ogrnip_is_valid():
    parsed = parse_event(payload_with("counterparty", **IE))
    assert parsed.payload.legal_form == "individual_entrepreneur"


def test_individual_entrepreneur_has_no_kpp_and_needs_an_inn():
    errors = violations(payload_with("counterparty", **{**IE, "inn": None, "kpp": "773601001"}))
    assert {(e["path"], e["code"]) for e in errors} == {
        ("payload.inn", "inn_required"),
        ("payload.kpp", "kpp_not_allowed"),
    }


def test_individual_entrepreneur_ogrnip_checksum_is_checked():
    error = the_violation(payload_with("counterparty", **{**IE, "ogrn": "304500116000158"}))
    assert (error["path"], error["code"]) == ("payload.ogrn", "ogrnip_checksum")


def test_person_may_have_no_inn_but_needs_a_name():
    assert parse_event(payload_with("counterparty", **PERSON)).payload.last_name == "Сидоров"
    error = the_violation(payload_with("counterparty", **{**PERSON, "last_name": " ", "first_name": None}))
    assert (error["path"], error["code"]) == ("payload.last_name", "name_missing")


def test_person_inn_when_present_has_12_digits_and_no_ogrn():
    errors = violations(
        payload_with("counterparty", **{**PERSON, "inn": "7707083893", "ogrn": "1027700132195"})
    )
    assert {(e["path"], e["code"]) for e in errors} == {
        ("payload.inn", "inn_legal_form"),
        ("payload.ogrn", "ogrn_not_allowed"),
    }


def test_unknown_legal_form_lists_the_allowed_ones():
    error = the_violation(payload_with("counterparty", legal_form="ЮрЛицо"))
    assert (error["path"], error["code"]) == ("payload.legal_form", "not_allowed")
    assert "«ЮрЛицо»" in error["message"]
    assert "company, individual_entrepreneur, person" in error["message"]


def test_bank_account_with_wrong_bik_checksum_key_is_reported_on_the_account():
    error = the_violation(bank_account(account="40702810138000012345"))
    assert error["path"] == "payload.bank_accounts[0].account"
    assert error["code"] == "account_checksum"
    assert "«40702810138000012345»" in error["message"] and "044525225" in error["message"]


def test_bank_account_bik_of_wrong_shape_is_reported_on_the_bik_only():
    error = the_violation(bank_account(bik="44525225"))
    assert (error["path"], error["code"]) == ("payload.bank_accounts[0].bik", "bik_format")
    assert error["message"].startswith("БИК «44525225»")


def test_bank_account_corr_account_is_checked_but_may_be_absent():
    assert parse_event(bank_account(corr_account=None)).payload.bank_accounts[0].corr_account is None
    assert parse_event(bank_account(corr_account="")).payload.bank_accounts[0].corr_account is None
    error = the_violation(bank_account(corr_account="30101810400000000226"))
    assert (error["path"], error["code"]) == (
        "payload.bank_accounts[0].corr_account",
        "corr_account_checksum",
    )


def test_bank_account_of_19_digits_is_a_format_problem():
    error = the_violation(bank_account(account="4070281093800001234"))
    assert (error["path"], error["code"]) == ("payload.bank_accounts[0].account", "account_format")


def test_only_one_bank_account_can_be_the_main_one():
    data = event()
    data["payload"]["bank_accounts"].append(dict(data["payload"]["bank_accounts"][0]))
    error = the_violation(data)
    assert (error["path"], error["code"]) == ("payload.bank_accounts[1].is_main", "main_account_duplicate")


def test_several_addresses_in_one_email_string_get_a_hint_to_split_them():
    error = the_violation(
        payload_with("counterparty", emails=["info@romashka.example; buh@romashka.example"])
    )
    assert (error["path"], error["code"]) == ("payload.emails[0]", "email_format")
    assert "отдельными элементами массива" in error["message"]


@pytest.mark.parametrize("email", ["info@", "@romashka.example", "info romashka@example.ru", "info@romashka"])
def test_emails_without_a_user_or_domain_are_rejected(email):
    assert the_violation(payload_with("counterparty", emails=[email]))["code"] == "email_format"


def test_phones_are_free_text_as_1c_presents_them():
    phones = ["+7 (495) 123-45-67 доб. 12", "8-800-555-35-35", "городской"]
    assert parse_event(payload_with("counterparty", phones=phones)).payload.phones == phones


def test_contact_person_needs_an_id_and_a_name():
    data = event()
    data["payload"]["contact_persons"][0].update(
        id="00000000-0000-0000-0000-000000000000", last_name=None, first_name=""
    )
    errors = violations(data)
    assert [(e["path"], e["code"]) for e in errors] == [
        ("payload.contact_persons[0].id", "empty_ref"),
    ]
    data["payload"]["contact_persons"][0]["id"] = "0b6f3a52-2f4b-11ef-8b1a-00155d012a07"
    assert the_violation(data)["path"] == "payload.contact_persons[0].last_name"


def test_collections_must_be_sent_even_when_empty_so_a_snapshot_cannot_lose_them_by_accident():
    data = event()
    del data["payload"]["bank_accounts"]
    error = the_violation(data)
    assert (error["path"], error["code"]) == ("payload.bank_accounts", "required")
    assert (
        parse_event(payload_with("counterparty", bank_accounts=[], contact_persons=[])).payload.bank_accounts
        == []
    )


def test_address_needs_its_presentation():
    error = the_violation(payload_with("counterparty", actual_address={"city": "Москва"}))
    assert (error["path"], error["code"]) == ("payload.actual_address.presentation", "required")
