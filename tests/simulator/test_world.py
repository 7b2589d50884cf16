"""The simulated base looks like a real UT 10.3 base: valid requisites, Russian names, 1C-style addresses."""

from __future__ import annotations

import re

import pytest

from onec_outbox.contract import checksums
from onec_outbox.simulator import build_world, data

PHONE = re.compile(r"\+7 \(\d{3}\) \d{3}-\d{2}-\d{2}")
EMAIL = re.compile(r"[a-z0-9.\-]+@[a-z0-9.\-]+\.[a-z]+")


@pytest.fixture(scope="module")
def world():
    return build_world(11, counterparties=300, products=120)


def _cards(world, form):
    return [c.payload for c in world.counterparties if c.payload["legal_form"] == form]


@pytest.mark.parametrize("name, bik, corr", data.BANKS)
def test_embedded_banks_have_valid_bik_and_correspondent_account(name, bik, corr):
    assert checksums.bik_valid(bik) is None
    assert checksums.corr_account_valid(corr, bik) is None
    # a bank's correspondent account ends with its BIK's last three digits: the key above checks only digits
    # 5–6 of the BIK, which the banks of one region share (a Sberbank BIK once stood beside Uralsib's account)
    assert corr[-3:] == bik[-3:], (name, bik, corr)


def test_every_legal_form_occurs_even_in_a_world_of_three():
    forms = [c.payload["legal_form"] for c in build_world(4, counterparties=3).counterparties]
    assert forms == ["company", "individual_entrepreneur", "person"]


def test_companies_have_legal_form_names_and_matching_requisites(world):
    companies = _cards(world, "company")
    assert companies
    for c in companies:
        short, full = c["name"].split()[-1], c["full_name"]
        if " филиал " not in c["name"]:
            assert (short, full.split(' "')[0]) in data.LEGAL_FORMS
            assert full.endswith(f'"{c["name"].rsplit(" ", 1)[0]}"')
        if c["inn"]:
            assert len(c["inn"]) == 10 and checksums.inn_valid(c["inn"]) is None
            assert c["kpp"] and checksums.kpp_valid(c["kpp"]) is None
        if c["ogrn"]:
            assert checksums.ogrn_valid(c["ogrn"]) is None
        assert all(a["account"].startswith("40702") for a in c["bank_accounts"])


def test_some_companies_are_branches_sharing_the_head_inn(world):
    inns = [c["inn"] for c in _cards(world, "company") if c["inn"]]
    assert len(inns) > len(set(inns))


def test_entrepreneurs_have_twelve_digit_inn_no_kpp_and_an_ip_name(world):
    for c in _cards(world, "individual_entrepreneur"):
        assert c["name"].startswith("ИП ") and c["full_name"].startswith("Индивидуальный предприниматель ")
        assert len(c["inn"]) == 12 and checksums.inn_valid(c["inn"]) is None and c["kpp"] is None
        assert c["ogrn"] is None or checksums.ogrnip_valid(c["ogrn"]) is None


def test_names_agree_with_gender(world):
    people = [(c["last_name"], c["first_name"], c["middle_name"]) for c in _cards(world, "person")]
    people += [(p["last_name"], p["first_name"], p["middle_name"])
               for c in world.counterparties for p in c.payload["contact_persons"]]
    assert len(people) > 50
    for last, first, middle in people:
        female = first in data.FEMALE_FIRST_NAMES
        assert female != (first in data.MALE_FIRST_NAMES)
        assert middle.endswith("на") == female, (last, first, middle)
        if female:
            assert last in {data.female_surname(s) for s in data.SURNAMES}
        else:
            assert last in data.SURNAMES


def test_bank_accounts_are_keyed_to_their_bank_and_one_is_main(world):
    for card in world.counterparties:
        accounts = card.payload["bank_accounts"]
        assert sum(a["is_main"] for a in accounts) == (1 if accounts else 0)
        for a in accounts:
            assert checksums.account_valid(a["account"], a["bik"]) is None
            assert (a["bank_name"], a["bik"], a["corr_account"]) in data.BANKS


def test_phones_and_emails_look_like_1c_presents_them(world):
    for card in world.counterparties:
        p = card.payload
        for phone in (*p["phones"], *(x for c in p["contact_persons"] for x in c["phones"])):
            assert PHONE.fullmatch(phone), phone
        for email in (*p["emails"], *(x for c in p["contact_persons"] for x in c["emails"])):
            assert EMAIL.fullmatch(email), email
            assert email.endswith(".example")  # reserved: a simulated address never reaches a real mailbox


def test_addresses_are_composed_like_1c_presentations(world):
    addresses = [a for c in world.counterparties for a in (c.payload["legal_address"], c.payload["actual_address"])
                 if a]
    assert addresses
    for a in addresses:
        parts = a["presentation"].split(", ")
        assert parts[0] == a["postal_code"] and len(a["postal_code"]) == 6
        assert f"{a['city']} г" in parts and a["street"] in parts and f"дом № {a['house']}" in parts
        assert (a.get("region") in parts) if a.get("region") else parts[1] == f"{a['city']} г"


def test_products_have_units_vat_and_prices(world):
    products = [p.payload for p in world.products]
    services = [p for p in products if p["is_service"]]
    goods = [p for p in products if not p["is_service"]]
    assert services and all(p["unit"] is None and p["purchase_price"] is None for p in services)
    assert {p["unit"]["code"] for p in goods} >= {"796", "166", "112", "006"}
    assert all(data.UNITS[p["unit"]["code"]] == p["unit"]["name"] for p in goods)
    assert {p["vat_rate"] for p in products} >= {"20", "10"}
    assert all(p["sale_price"]["price_type"] == data.SALE_PRICE_TYPE for p in products)
    assert [p for p in goods if p["purchase_price"] is None] and [p for p in goods if p["purchase_price"]]
    assert len({p["code"] for p in products}) == len(products)


def test_managers_include_portal_users_an_unknown_email_and_none():
    managers = build_world(1).managers
    emails = [m.email for m in managers]
    assert "irina.sales@sandbox.example" in emails and None in emails
    assert len({m.id for m in managers}) == len(managers)


def test_a_base_of_thousands_of_clients_gets_numbered_look_alikes_not_a_crash():
    """An initial-load benchmark needs 2,000 clients; the word lists run out long before that."""
    world = build_world(3, counterparties=2000, products=5)
    assert len(world.counterparties) == 2000
    names = [c.payload["name"] for c in world.counterparties if c.payload["legal_form"] != "person"]
    assert len(names) == len(set(names))  # private persons may be namesakes, as in real bases
    numbered = [n for n in names if re.search(r"-\d+ ", n)]
    assert numbered, "expected look-alikes numbered like 1C users do (Ромашка-2)"
    assert all(c.payload["full_name"] for c in world.counterparties)
