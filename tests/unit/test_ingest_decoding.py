"""The raw-byte pass of the ingest's decoder: values counted outside strings, the long array named,
numbers written back with the text they were sent as."""

from __future__ import annotations

import json

from bridge.ingest.config import IngestConfig
from bridge.ingest.decoding import JsonFloat, count_values, decode, dumps_exact, widest_array


def test_commas_and_brackets_inside_strings_are_not_values():
    assert count_values(b'{"a": "x, [y], {z}", "b": "q\\", ["}') == count_values(b'{"a": "", "b": ""}')
    assert count_values(b"[1,2,3,[4,5]]") == 6


def test_the_array_over_the_limit_is_named_by_its_path_inside_a_batch():
    body = json.dumps([{"payload": {"ok": [1, 2]}}, {"payload": {"list": list(range(50)), "x": 1}}]).encode()
    assert widest_array(body, 10, 10_000) == ("[1].payload.list", 11)


def test_numbers_are_written_back_as_sent_and_unreadable_ones_become_markers():
    items, floats = decode(b'{"a": 1.50, "b": [1e-7, 10], "c": 99999999999999999999999, "d": NaN}',
                           IngestConfig([b"t"]), 10)
    assert floats and isinstance(items[0]["a"], JsonFloat)
    assert repr(items[0]["d"]) == "NaN"
    dumped = {"a": 1.5, "b": [1e-7, 10], "c": 99999999999999999999999}
    assert dumps_exact(dumped, items[0]) == '{"a":1.50,"b":[1e-7,10],"c":99999999999999999999999}'


def test_an_empty_body_is_named_empty_not_a_json_syntax_error():
    """A POST without a body (a 1C HTTPЗапрос whose УстановитьТелоИзСтроки was never called) used to get
    "the body is not JSON: Expecting value at line 1 column 1", which sends the user looking for a typo."""
    import pytest

    from bridge.ingest.request import RequestRejected

    for body in (b"", b" \r\n\t"):
        with pytest.raises(RequestRejected) as refused:
            decode(body, IngestConfig([b"t"]), 10)
        assert refused.value.status == 400 and refused.value.code == "invalid_json"
        assert "empty" in refused.value.message and "Expecting value" not in refused.value.message
