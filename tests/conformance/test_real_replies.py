"""Recorded portal replies and the sandbox's replies to the same requests, read by fast_bitrix24's parser.

fast_bitrix24's ``ServerResponseParser`` decides what a caller gets back (a list, a dict by key, a bare
value, or an exception) purely from the reply's shape.  The replies its author recorded from real portals
(``tests/sandbox/real_replies/``, crm.lead.* there, companies here) and the sandbox's replies to the
analogous requests must come out of it the same way.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fast_bitrix24.server_response import ErrorInServerResponseException, ServerResponseParser

from tests.sandbox.conftest import real_reply, shape


def _post(srv, method: str, **params: Any) -> dict[str, Any]:
    return httpx.post(srv.webhook_url + method, json=params).json()


def _only_id_and_title(value: Any) -> Any:
    """The recordings were scrubbed to ID and TITLE; compare just those fields of each record."""
    if isinstance(value, dict) and "ID" in value:
        return {k: value[k] for k in ("ID", "TITLE") if k in value}
    if isinstance(value, dict):
        return {k: _only_id_and_title(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_only_id_and_title(v) for v in value]
    return value


def _extracted(reply: dict[str, Any], get_by_id: bool = False) -> Any:
    return shape(_only_id_and_title(ServerResponseParser(reply, get_by_id).extract_results()))


@pytest.fixture
def srv(serve):
    srv = serve()
    for i in range(39):
        srv.sandbox.call("crm.company.add", {"fields": {"TITLE": f"Company {i + 1}"}})
    return srv


def test_a_one_page_list_reads_as_the_same_list_with_nothing_more_to_fetch(srv):
    real = real_reply("crm_lead_list_one_page_success")["response"]
    ours = _post(srv, "crm.company.list", select=["ID", "TITLE"])
    assert _extracted(ours) == _extracted(real)
    for reply in (real, ours):
        assert ServerResponseParser(reply).total == 39 and not ServerResponseParser(reply).more_results_expected()


def test_an_add_in_a_batch_reads_as_a_bare_id(srv):
    real = real_reply("crm_contact_add_batch")["response"]
    ours = _post(srv, "batch", halt=0, cmd={"order0000000000": "crm.contact.add?fields[NAME]=Ivan"})
    assert _extracted(ours) == _extracted(real) == "int"


def test_an_empty_list_in_a_batch_reads_as_an_empty_list(srv):
    real = real_reply("batch_list_empty")["response"]
    ours = _post(srv, "batch", halt=0, cmd={"order0000000000": "crm.company.list?filter[TITLE]=nobody"})
    assert _extracted(ours) == _extracted(real) == []


def test_several_gets_in_a_batch_read_as_records_by_key(srv):
    real = real_reply("call_several_success")["response"]
    ours = _post(srv, "batch", halt=0, cmd={f"order{i}": f"crm.company.get?ID={i + 1}" for i in range(3)})
    assert _extracted(ours, get_by_id=True) == _extracted(real, get_by_id=True)


def test_a_get_by_id_of_link_lists_reads_as_lists_by_id(srv):
    real = real_reply("crm_company_contact_items_get")["response"]
    for name in ("Ivan", "Olga"):
        srv.sandbox.call("crm.contact.add", {"fields": {"NAME": name, "COMPANY_ID": 5}})
    ours = _post(srv, "batch", halt=0, cmd={"5": "crm.company.contact.items.get?id=5"})
    assert _extracted(ours, get_by_id=True) == _extracted(real, get_by_id=True)


@pytest.mark.parametrize("name, cmd", [
    ("crm_lead_get_batch_error", {"0": "crm.company.get?id=0"}),
    ("crm_get_batch_mix_success_and_errors", {"0": "crm.company.get?id=0", "1": "crm.company.get?id=999",
                                              "7": "crm.company.get?id=7"}),
])
def test_command_errors_raise_the_same_error_list(srv, name, cmd):
    real = real_reply(name)["response"]
    ours = _post(srv, "batch", halt=0, cmd=cmd)
    raised = []
    for reply in (real, ours):
        with pytest.raises(ErrorInServerResponseException) as error:
            ServerResponseParser(reply).extract_results()
        raised.append(error.value.args[0])
    assert raised[0] == raised[1]
