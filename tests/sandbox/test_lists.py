"""``*.list``: fixed pages of 50, start/next/total, start=-1, select, order and filter operators."""

from __future__ import annotations

import pytest


@pytest.fixture
def companies(portal):
    """120 companies, added in 3 batches (one HTTP request each)."""
    for chunk in range(3):
        cmd = {f"c{i}": f"crm.company.add?fields[TITLE]=Company%20{chunk * 40 + i:03d}"
                        f"&fields[ORIGINATOR_ID]=1C_UT&fields[ORIGIN_ID]=guid-{chunk * 40 + i}"
                        f"&fields[REVENUE]={chunk * 40 + i}"
               for i in range(40)}
        assert not portal.result("batch", halt=1, cmd=cmd)["result_error"]
    return portal


def test_first_page_has_50_rows_total_and_next(companies):
    body = companies.call("crm.company.list", select=["ID", "TITLE"]).json()
    assert len(body["result"]) == 50 and body["total"] == 120 and body["next"] == 50
    assert list(body) == ["result", "next", "total", "time"]
    assert body["result"][0] == {"ID": "1", "TITLE": "Company 000"}


def test_last_page_has_no_next(companies):
    body = companies.call("crm.company.list", select=["ID"], start=100).json()
    assert len(body["result"]) == 20 and body["total"] == 120 and "next" not in body


def test_start_is_floored_to_a_page(companies):
    at_75 = companies.call("crm.company.list", select=["ID"], start=75).json()
    at_50 = companies.call("crm.company.list", select=["ID"], start=50).json()
    assert at_75["result"] == at_50["result"] and at_75["next"] == 100


def test_start_minus_one_skips_the_count(companies):
    body = companies.call("crm.company.list", select=["ID"], start=-1, order={"ID": "ASC"},
                          filter={">ID": 60}).json()
    assert len(body["result"]) == 50 and body["result"][0]["ID"] == "61"
    assert body.get("total", 0) == 0 and "next" not in body


def test_exact_match_on_external_ids(companies):
    rows = companies.result("crm.company.list", filter={"ORIGINATOR_ID": "1C_UT", "ORIGIN_ID": "guid-1"},
                            select=["ID", "ORIGIN_ID"])
    assert rows == [{"ID": "2", "ORIGIN_ID": "guid-1"}]
    assert companies.result("crm.company.list", filter={"ORIGIN_ID": "guid"}) == []


def test_comparison_in_and_like_operators(companies):
    def ids(**filter_):
        return [int(r["ID"]) for r in companies.result("crm.company.list", filter=filter_, select=["ID"])]

    assert ids(**{">=REVENUE": 118}) == [119, 120]
    assert ids(**{"<ID": 3}) == [1, 2]
    assert ids(**{"@ID": [5, 7]}) == [5, 7]
    assert ids(**{"!@ID": list(range(1, 119))}) == [119, 120]
    assert ids(**{"%TITLE": "pany 11"}) == list(range(111, 121))
    assert ids(**{"=%TITLE": "%any 00_"}) == list(range(1, 11))
    assert ids(**{"!ORIGIN_ID": "guid-0", "<ID": 4}) == [2, 3]


def test_a_negated_key_with_an_array_means_not_in(companies):
    """``!FIELD``/``!=FIELD`` with an array is NOT IN, as ``!@FIELD`` is, not a filter every row passes."""
    def ids(**filter_):
        return [int(r["ID"]) for r in companies.result("crm.company.list", filter=filter_, select=["ID"])]

    assert ids(**{"!ID": list(range(1, 119))}) == [119, 120]
    assert ids(**{"!=ID": list(range(1, 119))}) == [119, 120]
    assert ids(**{"!ORIGIN_ID": [f"guid-{i}" for i in range(2, 120)]}) == [1, 2]
    assert ids(**{"!=REVENUE": ["0", "1"], "<ID": 5}) == [3, 4]


def test_order_desc(companies):
    rows = companies.result("crm.company.list", order={"REVENUE": "DESC"}, select=["ID", "REVENUE"])
    assert rows[0] == {"ID": "120", "REVENUE": "119"}


def test_select_star_leaves_out_multifields_which_must_be_named(portal):
    portal.company(PHONE=[{"VALUE": "+7 900 000-00-01", "VALUE_TYPE": "WORK"}])
    star = portal.result("crm.company.list", select=["*"])[0]
    assert "TITLE" in star and "PHONE" not in star
    named = portal.result("crm.company.list", select=["ID", "PHONE"])[0]
    assert named == {"ID": "1", "PHONE": [{"ID": "1", "VALUE_TYPE": "WORK", "VALUE": "+7 900 000-00-01",
                                           "TYPE_ID": "PHONE"}]}
    default = portal.result("crm.company.list")[0]
    assert "TITLE" in default and "PHONE" not in default


def test_multifield_filter_matches_exact_value_only(portal):
    portal.company(EMAIL=[{"VALUE": "sales@romashka.ru", "VALUE_TYPE": "WORK"}])
    portal.company(TITLE="Other", EMAIL=[{"VALUE": "info@other.ru", "VALUE_TYPE": "WORK"}])
    assert [r["ID"] for r in portal.result("crm.company.list", filter={"EMAIL": "sales@romashka.ru"})] == ["1"]
    assert portal.result("crm.company.list", filter={"EMAIL": "sales@"}) == []


def test_unknown_filter_fields_are_ignored(portal):
    portal.company()
    assert len(portal.result("crm.company.list", filter={"NO_SUCH": "x"})) == 1


def test_empty_list_has_total_zero_and_no_next(portal):
    body = portal.call("crm.contact.list").json()
    assert body["result"] == [] and body["total"] == 0 and "next" not in body


def test_like_on_a_status_or_link_field_is_an_exact_match(portal):
    """§4.1: LIKE does not work on crm_status fields; CCrmRestProxyBase::internalizeFilterFields turns
    ``%``/``%=``/``=%`` on a crm_status, crm_company or crm_contact field into ``=`` (an exact match)."""
    company = portal.company(COMPANY_TYPE="CUSTOMER")
    portal.company(COMPANY_TYPE="PARTNER")
    contact = portal.contact(COMPANY_ID=company)
    deal = portal.result("crm.deal.add", fields={"TITLE": "D", "COMPANY_ID": company, "CONTACT_ID": contact})

    def ids(method, **filter_):
        return [row["ID"] for row in portal.result(method, filter=filter_, select=["ID"])]

    assert ids("crm.company.list", **{"%COMPANY_TYPE": "CUST"}) == []
    assert ids("crm.company.list", **{"=%COMPANY_TYPE": "CUST%"}) == []
    assert ids("crm.company.list", **{"%COMPANY_TYPE": "CUSTOMER"}) == [str(company)]
    assert ids("crm.deal.list", **{"%STAGE_ID": "NE"}) == [] and ids("crm.deal.list", **{"%STAGE_ID": "NEW"}) == [str(deal)]
    assert ids("crm.deal.list", **{"%COMPANY_ID": str(company)[:1] + "%"}) == []
    assert ids("crm.company.list", **{"%TITLE": "ромаш"}) == [str(company), str(company + 1)]  # a string: LIKE


@pytest.mark.parametrize("spelling", ["filter", "FILTER", "Filter", "arFilter"])
def test_a_filter_is_read_in_every_legacy_spelling(companies, spelling):
    """``resolveArrayParam``: a look-up spelled ``Filter`` must find one record, not the whole table."""
    body = companies.call("crm.company.list", **{spelling: {"ORIGIN_ID": "guid-83"}}, select=["ID"]).json()
    assert body["result"] == [{"ID": "84"}] and body["total"] == 1


def test_order_and_select_are_read_in_every_legacy_spelling(companies):
    rows = companies.result("crm.company.list", Order={"ID": "DESC"}, arSelect=["ID"], Filter={"<ID": 3})
    assert rows == [{"ID": "2"}, {"ID": "1"}]


@pytest.mark.parametrize("method, key", [("crm.status.list", "ENTITY_ID"), ("crm.dealcategory.list", "NAME"),
                                         ("crm.product.list", "NAME")])
def test_other_legacy_lists_read_the_same_spellings(portal, method, key):
    portal.result("crm.dealcategory.add", fields={"NAME": "Опт"})
    portal.result("crm.product.add", fields={"NAME": "Кирпич"})
    value = {"crm.status.list": "DEAL_STAGE", "crm.dealcategory.list": "Опт", "crm.product.list": "Кирпич"}[method]
    rows = portal.result(method, arFilter={key: value})
    assert rows and all(r[key] == value for r in rows)
    assert len(portal.result(method, Filter={key: "нет такого"})) == 0


def test_the_upper_case_spelling_wins_when_two_are_sent(companies):
    """``resolveArrayParam`` looks at ``FILTER`` before ``filter`` (CORP ``CCrmRestHelper``)."""
    body = companies.call("crm.company.list", FILTER={"ORIGIN_ID": "guid-83"}, filter={"ORIGIN_ID": "guid-1"},
                          select=["ID"]).json()
    assert body["result"] == [{"ID": "84"}]


@pytest.mark.parametrize("name", ["filter", "order"])
@pytest.mark.parametrize("value", ["ID", 5])
def test_a_filter_or_order_that_is_not_an_array_is_refused_not_ignored(companies, name, value):
    """``CCrmRestProxyBase::processMethodRequest`` (LIST) refuses it; ignored, a client's mistyped look-up
    would get the whole table back."""
    assert companies.error("crm.company.list", **{name: value}) == (
        400, {"error": "", "error_description": f"Parameter '{name}' must be array."})
