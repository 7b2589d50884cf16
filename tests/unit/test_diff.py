"""Only what 1C changed is sent; a manager's additions in Bitrix24 survive."""

from bridge.domain.diff import field_changes, multifield_changes, normalize, unconfirmed


def test_first_push_sends_every_field():
    assert field_changes({"TITLE": "Ромашка", "ORIGIN_ID": "x"}, None) == {"TITLE": "Ромашка", "ORIGIN_ID": "x"}


def test_only_fields_1c_changed_since_the_last_push_are_sent():
    pushed = {"TITLE": "Ромашка", "RQ_KPP": "773601001"}
    assert field_changes({"TITLE": "Ромашка ООО", "RQ_KPP": "773601001"}, pushed) == {"TITLE": "Ромашка ООО"}


def test_a_field_1c_emptied_is_sent_empty_so_bitrix24_clears_it():
    assert field_changes({"TITLE": "A"}, {"TITLE": "A", "RQ_OGRN": "1027700132195"}) == {"RQ_OGRN": ""}


def test_after_a_push_that_died_half_way_every_field_is_sent_and_one_only_the_old_push_had_is_cleared():
    pushed = {"TITLE": "A", "RQ_OGRN": "1027700132195"}  # Bitrix24 may hold these, or a newer push's values
    assert field_changes({"TITLE": "A", "RQ_KPP": "773601001"}, unconfirmed(pushed)) == {
        "TITLE": "A", "RQ_KPP": "773601001", "RQ_OGRN": ""}
    assert unconfirmed(None) is None
    # a field the failed push set (pending) and 1C has emptied since is cleared as well
    assert field_changes({"TITLE": "B"}, unconfirmed({"TITLE": "A"}, {"TITLE": "B", "RQ_KPP": "773601001"})) == {
        "TITLE": "B", "RQ_KPP": ""}


def test_phones_compare_by_digits_and_leading_8_equals_7():
    assert normalize("PHONE", "8 (495) 123-45-67") == normalize("PHONE", "+7 495 1234567")
    assert normalize("EMAIL", " Info@Romashka.Example ") == "info@romashka.example"


def test_a_phone_removed_in_1c_is_deleted_and_an_added_one_appended():
    current = [{"ID": "11", "VALUE": "+7 (495) 123-45-67", "VALUE_TYPE": "WORK"},
               {"ID": "12", "VALUE": "+7 (495) 000-00-00", "VALUE_TYPE": "WORK"}]
    ops = multifield_changes("PHONE", current, pushed=["+7 (495) 123-45-67", "+7 (495) 000-00-00"],
                             desired=["+7 (495) 123-45-67", "+7 (812) 555-55-55"])
    assert ops == [{"ID": "12", "DELETE": "Y"}, {"VALUE": "+7 (812) 555-55-55", "VALUE_TYPE": "WORK"}]


def test_a_phone_a_manager_added_in_bitrix24_is_kept():
    current = [{"ID": "11", "VALUE": "+7 (495) 123-45-67"}, {"ID": "13", "VALUE": "+7 999 111-22-33"}]
    assert multifield_changes("PHONE", current, pushed=["+7 (495) 123-45-67"], desired=["+7 (495) 123-45-67"]) == []


def test_repeating_the_same_update_after_a_crash_adds_nothing_twice():
    current = [{"ID": "11", "VALUE": "+7 (495) 123-45-67"}, {"ID": "14", "VALUE": "+7 (812) 555-55-55"}]
    ops = multifield_changes("PHONE", current, pushed=["+7 (495) 123-45-67"],
                             desired=["+7 (495) 123-45-67", "+7 (812) 555-55-55"])
    assert ops == []


def test_unknown_previous_state_never_deletes_anything():
    current = [{"ID": "11", "VALUE": "old@example.org"}]
    assert multifield_changes("EMAIL", current, pushed=None, desired=["new@example.org"]) == [
        {"VALUE": "new@example.org", "VALUE_TYPE": "WORK"}]
