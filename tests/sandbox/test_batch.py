"""``batch`` replies compared with real portal replies (bitrix24-real-replies), plus references and limits."""

from __future__ import annotations

from .conftest import real_reply, shape

BUCKETS = ["result", "result_error", "result_total", "result_next", "result_time"]


def _without_times(batch_result):
    return {k: v for k, v in batch_result.items() if k != "result_time"}


def test_empty_list_command_matches_the_real_reply(portal):
    real = real_reply("batch_list_empty")["response"]
    body = portal.call("batch", halt=0, cmd={"order0000000000": "crm.company.list?filter[PHONE]=%2B70000000000"}).json()
    assert list(body) == ["result", "time"] and list(body["result"]) == BUCKETS
    assert _without_times(body["result"]) == _without_times(real["result"])
    real_time_keys = set(real["result"]["result_time"]["order0000000000"])
    assert real_time_keys <= set(body["result"]["result_time"]["order0000000000"])


def test_single_failing_command_keyed_zero_gives_arrays_like_the_real_reply(portal):
    real = real_reply("crm_lead_get_batch_error")["response"]["result"]
    body = portal.result("batch", cmd={"0": "crm.company.get?id=0"})
    assert body == real


def test_two_failing_commands_match_the_real_errors_word_for_word(portal):
    real = real_reply("crm_get_batch_of_two_error")["response"]["result"]
    body = portal.result("batch", halt=0, cmd=["crm.company.get?id=0", "crm.company.get?id=4242"])
    assert body == real


def test_mixed_keys_keep_the_result_an_object_but_make_errors_a_list(portal):
    real = real_reply("crm_get_batch_mix_success_and_errors")["response"]["result"]
    company_id = portal.company()
    body = portal.result("batch", cmd={"0": "crm.company.get?id=0", "1": "crm.company.get?id=999",
                                       str(company_id + 100): f"crm.company.list?select[]=ID&filter[ID]={company_id}"})
    assert isinstance(body["result"], dict) and list(body["result"]) == [str(company_id + 100)]
    assert body["result_error"] == real["result_error"]
    assert isinstance(body["result_time"], dict)


def test_add_in_a_batch_returns_a_bare_int_like_the_real_reply(portal):
    real = real_reply("crm_contact_add_batch")["response"]["result"]
    body = portal.result("batch", cmd={"order0000000000": "crm.contact.add?fields[NAME]=Иван"})
    assert shape(_without_times(body)) == shape(_without_times(real))
    assert body["result"] == {"order0000000000": 1}


def test_one_command_keyed_zero_becomes_a_list_of_lists(portal):
    real = real_reply("crm_dealcategory_stage_list_2")["response"]["result"]
    portal.company()
    body = portal.result("batch", halt=0, cmd={"0": "crm.company.list?select[]=ID&"})
    assert isinstance(real["result"], list) and isinstance(real["result"][0], list)
    assert body["result"] == [[{"ID": "1"}]]
    assert isinstance(body["result_time"], list) and len(body["result_time"]) == 1
    assert list(body["result_time"][0]) == list(real["result_time"][0])


def test_keys_that_are_not_zero_to_n_stay_objects(portal):
    real = real_reply("crm_dealcategory_stage_list")
    body = portal.result("batch", **{k: v for k, v in real["request"]["params"].items() if k != "cmd"},
                         cmd={k: "crm.company.list?select[]=ID&" for k in real["request"]["params"]["cmd"]})
    assert list(body["result"]) == list(real["response"]["result"]["result"]) == ["2", "4", "8", "0"]


def test_paging_inside_a_batch_reports_total_and_next_per_command(portal):
    portal.result("batch", cmd={f"a{i}": f"crm.company.add?fields[TITLE]=C{i}" for i in range(45)})
    portal.result("batch", cmd={f"b{i}": f"crm.company.add?fields[TITLE]=D{i}" for i in range(45)})
    body = portal.result("batch", cmd={"cmd0": "crm.company.list?select[]=ID&start=0",
                                       "cmd1": "crm.company.list?select[]=ID&start=50"})
    assert body["result_total"] == {"cmd0": 90, "cmd1": 90}
    assert body["result_next"] == {"cmd0": 50}
    assert len(body["result"]["cmd1"]) == 40


def test_result_references_feed_later_commands(portal):
    body = portal.result("batch", halt=1, cmd={
        "c1": "crm.company.add?fields[TITLE]=ACME&fields[ORIGIN_ID]=abc",
        "c2": "crm.contact.add?fields[NAME]=Ivan&fields[COMPANY_ID]=$result[c1]",
        "c3": "crm.contact.list?filter[COMPANY_ID]=$result[c1]&select[]=ID",
        "c4": "crm.contact.get?id=$result[c3][0][ID]",
        "c5": "crm.company.list?select[]=ID&start=$next[nothing]",
        "c6": "crm.contact.update?id=$result[c2]&fields[COMMENTS]=$total[c3]",
    })
    assert body["result"]["c1"] == 1 and body["result"]["c2"] == 1
    assert body["result"]["c3"] == [{"ID": "1"}]
    assert body["result"]["c4"]["COMPANY_ID"] == "1"
    assert body["result_error"] == []
    assert portal.result("crm.contact.get", id=1)["COMMENTS"] == "1"


def test_unresolvable_reference_is_left_in_place(portal):
    body = portal.result("batch", cmd={"c1": "crm.company.add?fields[TITLE]=$result[missing][ID]"})
    assert portal.result("crm.company.get", id=body["result"]["c1"])["TITLE"] == "$result[missing][ID]"


def test_halt_stops_after_the_first_error_without_rollback(portal):
    body = portal.result("batch", halt=1, cmd={"a": "crm.company.add?fields[TITLE]=A",
                                               "b": "crm.company.get?id=999",
                                               "c": "crm.company.add?fields[TITLE]=C"})
    assert body["result"] == {"a": 1} and list(body["result_error"]) == ["b"]
    assert [c["TITLE"] for c in portal.result("crm.company.list")] == ["A"]


def test_without_halt_every_command_runs(portal):
    body = portal.result("batch", halt=0, cmd={"a": "crm.company.get?id=999", "b": "crm.company.add?fields[TITLE]=B"})
    assert body["result"] == {"b": 1} and list(body["result_error"]) == ["a"]


def test_commands_past_fifty_get_batch_length_exceeded(portal):
    response = portal.call("batch", cmd={f"k{i}": "crm.company.add?fields[TITLE]=X" for i in range(53)})
    assert response.status_code == 200
    body = response.json()["result"]
    assert len(body["result"]) == 50
    assert body["result_error"] == {f"k{i}": {"error": "ERROR_BATCH_LENGTH_EXCEEDED",
                                              "error_description": "Max batch length exceeded"} for i in (50, 51, 52)}


def test_nested_batch_is_not_allowed(portal):
    body = portal.result("batch", cmd={"inner": "batch?cmd[x]=crm.company.list"})
    assert body["result_error"]["inner"]["error"] == "ERROR_BATCH_METHOD_NOT_ALLOWED"


def test_unknown_method_inside_a_batch_is_a_command_error(portal):
    body = portal.result("batch", cmd={"x": "crm.nothing.here?id=1"})
    assert body["result_error"] == {"x": {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}}


def test_form_encoded_batch_is_parsed_the_same(portal):
    form = "halt=0&cmd[a]=crm.company.add%3Ffields%5BTITLE%5D%3DForm&cmd[b]=crm.company.get%3Fid%3D%24result%5Ba%5D"
    response = portal.http.post(portal.srv.webhook_url + "batch", content=form,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.json()["result"]["result"]["b"]["TITLE"] == "Form"


def test_next_and_total_references_resolve_to_numbers(portal):
    portal.result("batch", cmd={f"a{i}": f"crm.company.add?fields[TITLE]=C{i}" for i in range(50)})
    portal.result("batch", cmd={f"a{i}": f"crm.company.add?fields[TITLE]=D{i}" for i in range(10)})
    body = portal.result("batch", cmd={"first": "crm.company.list?select[]=ID",
                                       "second": "crm.company.list?select[]=ID&start=$next[first]",
                                       "count": "crm.contact.add?fields[NAME]=$total[first]"})
    assert body["result_next"] == {"first": 50}
    assert [r["ID"] for r in body["result"]["second"]] == [str(i) for i in range(51, 61)]
    assert portal.result("crm.contact.get", id=body["result"]["count"])["NAME"] == "60"
