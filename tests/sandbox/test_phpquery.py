"""PHP ``parse_str`` semantics: what Bitrix24 makes of form bodies, query strings and batch commands."""

from b24_sandbox.phpquery import build, is_php_list, parse_multipart, parse_query


def test_bracket_keys_build_nested_lists_and_objects():
    parsed = parse_query("fields[TITLE]=ACME&fields[PHONE][0][VALUE]=%2B7+900&fields[PHONE][0][VALUE_TYPE]=WORK")
    assert parsed == {"fields": {"TITLE": "ACME", "PHONE": [{"VALUE": "+7 900", "VALUE_TYPE": "WORK"}]}}


def test_empty_brackets_append_with_the_next_integer_key():
    assert parse_query("select[]=ID&select[]=TITLE") == {"select": ["ID", "TITLE"]}
    assert parse_query("a[5]=x&a[]=y") == {"a": {"5": "x", "6": "y"}}


def test_integer_keys_out_of_order_stay_an_object():
    assert parse_query("a[1]=x&a[0]=y") == {"a": {"1": "x", "0": "y"}}


def test_non_canonical_integer_keys_are_strings():
    assert parse_query("a[01]=x") == {"a": {"01": "x"}}


def test_last_duplicate_wins_and_values_stay_strings():
    assert parse_query("id=1&id=2&halt=0") == {"id": "2", "halt": "0"}


def test_dots_and_spaces_in_the_top_level_name_become_underscores():
    assert parse_query("a.b=1&c+d=2") == {"a_b": "1", "c_d": "2"}


def test_filter_operators_survive_as_keys():
    assert parse_query("filter[%3E%3DID]=5&filter[!%40ID][]=1") == {"filter": {">=ID": "5", "!@ID": ["1"]}}


def test_multipart_form_data_uses_the_same_bracket_rules():
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"fields[TITLE]\"\r\n\r\n\xd0\x90\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"fields[EMAIL][0][VALUE]\"\r\n\r\na@b.ru\r\n--XX--\r\n")
    assert parse_multipart(body, "multipart/form-data; boundary=XX") == {
        "fields": {"TITLE": "А", "EMAIL": [{"VALUE": "a@b.ru"}]}}


def test_php_list_rule_needs_keys_exactly_zero_to_n_minus_one_in_order():
    assert is_php_list([0, 1, 2]) and is_php_list(["0", "1"])
    assert not is_php_list(["1", "0"]) and not is_php_list(["0", "2"]) and not is_php_list(["a"])
    assert build([("x[]", "1")]) == {"x": ["1"]}
