"""The batch command encoder writes what PHP's parse_str reads back as the same structure."""

from datetime import date
from decimal import Decimal
from enum import Enum
from urllib.parse import quote as urllib_quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.b24.query import Unencodable, build_command, build_query, json_body, quote
from tests.b24.fakes import php_parse_str


def php_view(value):
    """What the portal sees after parse_str: strings everywhere, lists as 0..n-1 maps, nulls gone."""
    if isinstance(value, dict):
        return {str(k): php_view(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return {str(i): php_view(v) for i, v in enumerate(value) if v is not None}
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def test_nested_fields_and_multifields_use_php_bracket_keys():
    query = build_query({"fields": {"TITLE": "ACME", "PHONE": [{"VALUE": "+7 900", "VALUE_TYPE": "WORK"}]}})
    assert query == "fields[TITLE]=ACME&fields[PHONE][0][VALUE]=%2B7%20900&fields[PHONE][0][VALUE_TYPE]=WORK"


def test_filter_operators_in_keys_are_encoded_once():
    assert (
        build_query({"filter": {">ID": 5, "=%TITLE": "a&b"}}) == "filter[%3EID]=5&filter[%3D%25TITLE]=a%26b"
    )


def test_booleans_become_one_and_zero_and_none_is_left_out():
    assert build_query({"a": True, "b": False, "c": None, "d": {"e": None, "f": 1}}) == "a=1&b=0&d[f]=1"


def test_dates_and_decimals_keep_their_exact_text():
    assert build_query({"d": date(2026, 1, 31), "p": Decimal("10.50")}) == "d=2026-01-31&p=10.50"


def test_result_references_survive_encoding():
    command = build_command("crm.contact.add", {"fields": {"COMPANY_ID": "$result[co][ID]"}})
    method, _, query = command.partition("?")
    assert method == "crm.contact.add"
    assert php_parse_str(query) == {"fields": {"COMPANY_ID": "$result[co][ID]"}}


def test_a_command_without_params_is_the_bare_method():
    assert build_command("server.time", {}) == "server.time"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"rows": []}, "rows"),
        ({"fields": {}}, "fields"),
        ({"fields": {"A[B]": 1}}, "A[B]"),
        ({"x": float("nan")}, "x"),
    ],
)
def test_what_a_query_cannot_carry_is_refused_with_the_key_named(params, named):
    with pytest.raises(Unencodable, match=named.replace("[", r"\[").replace("]", r"\]")):
        build_query(params)


def test_too_many_variables_for_php_max_input_vars_are_refused():
    params = {"rows": [{"PRODUCT_ID": i, "PRICE": 1} for i in range(501)]}
    with pytest.raises(Unencodable, match="max_input_vars"):
        build_command("crm.deal.productrows.set", params, max_vars=1000)


def test_json_body_writes_decimals_and_dates_as_text():
    assert json_body({"p": Decimal("1.10"), "d": date(2026, 2, 1), "b": True}) == (
        b'{"p": "1.10", "d": "2026-02-01", "b": true}'
    )


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="[]"), min_size=1, max_size=8)
_scalar = st.one_of(
    st.integers(-(10**12), 10**12),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.floats(allow_nan=False, allow_infinity=False),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).filter(lambda xs: any(x is not None for x in xs)),
        st.dictionaries(_text, inner, min_size=1, max_size=3).filter(
            lambda d: any(v is not None for v in d.values())
        ),
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(
        _text.filter(lambda k: k.strip() == k and "." not in k and " " not in k), _value, max_size=4
    )
)
def test_parse_str_reads_back_what_was_encoded(params):
    """Any structure (with no empty containers, which PHP cannot carry) round-trips through parse_str."""
    try:
        query = build_query(params)
    except Unencodable:
        return  # a container that only held None became empty: refused, which is the documented outcome
    assert php_parse_str(query) == php_view(params)


@given(st.text())
def test_percent_encoding_is_urllibs_for_any_text(text):
    """The encoder's own table-driven quoting writes exactly what ``urllib.parse.quote(safe="")`` does
    (Cyrillic, symbols, emoji, control characters): the portal reads the same values as before."""
    assert quote(text) == urllib_quote(text, safe="")


def test_a_refused_key_is_refused_every_time_and_a_good_one_encoded_the_same_every_time():
    for _ in range(2):  # the second time answers from the encoder's cache of key segments
        with pytest.raises(Unencodable, match="bracket"):
            build_query({"fields": {"A[B]": 1}})
        assert build_query({"fields": {"Наименование полное": "ООО «Ромашка»"}}) == (
            "fields[%D0%9D%D0%B0%D0%B8%D0%BC%D0%B5%D0%BD%D0%BE%D0%B2%D0%B0%D0%BD%D0%B8%D0%B5%20"
            "%D0%BF%D0%BE%D0%BB%D0%BD%D0%BE%D0%B5]=%D0%9E%D0%9E%D0%9E%20%C2%AB%D0%A0%D0%BE%D0%BC"
            "%D0%B0%D1%88%D0%BA%D0%B0%C2%BB")


def test_a_str_enum_or_str_subclass_key_is_written_as_its_text():
    """A key that is a str Enum member (or a str subclass with its own __str__) is its text, as urllib's
    quote wrote it, not the member's name."""

    class Field(str, Enum):
        TITLE = "TITLE"

    class Shown(str):
        def __str__(self) -> str:
            return "shown"

    for _ in range(2):  # the second time through the encoder's cache of key segments
        assert build_query({"fields": {Field.TITLE: "ACME"}, Field.TITLE: 1}) == "fields[TITLE]=ACME&TITLE=1"
        assert build_query({"fields": {Shown("k"): Shown("v")}}) == "fields[k]=v"
