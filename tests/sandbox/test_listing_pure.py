"""Paging, filter and multifield rules as pure functions (no HTTP)."""

from b24_sandbox import listing, multifield


def test_legacy_paging_floors_start_and_orm_paging_uses_an_offset():
    rows = list(range(120))
    legacy = listing.paginate(rows, 75, 50, floor_start=True)
    orm = listing.paginate(rows, 75, 50, floor_start=False)
    assert (legacy.rows[0], legacy.next, legacy.total) == (50, 100, 120)
    assert (orm.rows[0], orm.next, orm.total) == (75, None, 120)
    assert listing.paginate(rows, -1, 50) == listing.Page(rows[:50], 0, None)


def test_operator_prefixes_are_read_longest_first():
    assert [listing.split_key(k) for k in ("!=%NAME", ">=ID", "!@ID", "%TITLE", "!ID", "ID")] == [
        ("!=%", "NAME"), (">=", "ID"), ("!@", "ID"), ("%", "TITLE"), ("!", "ID"), ("", "ID")]


def test_an_array_after_a_negation_is_not_in_for_plain_and_multifields():
    ops = ("!", "!=", "!@", "")
    assert [listing.matches("3", op, ["1", "2"], "int") for op in ops] == [True, True, True, False]
    assert [listing.matches("2", op, ["1", "2"], "int") for op in ops] == [False, False, False, True]
    assert listing.matches(["a", "b"], "!", ["b", "c"], "multi") is False
    assert listing.matches(["a"], "!", ["b", "c"], "multi") is True


def test_multifield_update_never_replaces_the_list():
    record: dict = {}
    ids = iter(range(1, 100))
    multifield.apply(record, ("PHONE",), {"PHONE": [{"VALUE": "1"}, {"VALUE": "2"}]}, lambda: next(ids))
    multifield.apply(record, ("PHONE",), {"PHONE": [{"VALUE": "3"}, {"ID": 1}, {"ID": 2, "VALUE": "22"}]},
                     lambda: next(ids))
    assert multifield.values_of(record, "PHONE") == ["22", "3"]
