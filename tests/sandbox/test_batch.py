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


def test_unresolvable_reference_inside_a_text_is_left_in_place(portal):
    body = portal.result("batch", cmd={"c1": "crm.company.add?fields[TITLE]=Copy of $result[missing][ID]"})
    assert portal.result("crm.company.get", id=body["result"]["c1"])["TITLE"] == "Copy of $result[missing][ID]"


def test_a_whole_value_reference_that_breaks_off_gives_the_partial_value(portal):
    # processBatchElement walks from the bucket and stops at the first missing key: the value becomes
    # what it reached (here the whole, empty, result bucket), so the TITLE is not a string any more.
    body = portal.result("batch", cmd={"c1": "crm.company.add?fields[TITLE]=$result[missing][ID]"})
    assert body["result"] == [] and body["result_error"]["c1"]["error_description"].endswith("is required.")
    body = portal.result("batch", cmd={"a": "crm.company.add?fields[TITLE]=A",
                                       "b": "crm.company.list?select[]=ID&select[]=TITLE",
                                       "c": "crm.company.add?fields[TITLE]=$result[b][0][TITLE]",
                                       "d": "crm.company.add?fields[TITLE]=$result[b][7][TITLE]"})
    assert list(body["result"]) == ["a", "b", "c"] and list(body["result_error"]) == ["d"]


def test_several_references_in_one_value_are_all_replaced(portal):
    body = portal.result("batch", cmd={"a": "crm.company.add?fields[TITLE]=Alpha",
                                       "b": "crm.company.add?fields[TITLE]=Beta",
                                       "c": "crm.company.add?fields[TITLE]=$result[a] and $result[b]"})
    assert portal.result("crm.company.get", id=body["result"]["c"])["TITLE"] == "1 and 2"


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


def test_get_all_paging_replies_match_the_recorded_7531_row_export(portal):
    """fast_bitrix24's get_all over 7531 leads, replayed on 7531 companies: same keys, counts, totals, nexts."""
    skeleton = real_reply("crm_lead_list_several_pages_skeleton")["skeleton"]
    for i in range(7531):
        portal.sandbox.call("crm.company.add", {"fields": {"TITLE": f"C{i}"}})
    params = {"select": ["ID", "TITLE"], "order": {"ID": "ASC"}}
    first = portal.call("crm.company.list", **params).json()
    assert {"kind": "direct", "keys": list(first), "rows": len(first["result"]), "row_keys": list(first["result"][0]),
            "next": first["next"], "total": first["total"]} == skeleton[0]
    query = "select[0]=ID&select[1]=TITLE&order[ID]=ASC"
    for n, real in enumerate(skeleton[1:]):
        cmd = {f"cmd{i}": f"crm.company.list?start={(n * 50 + i + 1) * 50}&{query}" for i in range(50)}
        body = portal.call("batch", halt=0, cmd=cmd).json()
        got = body["result"]
        assert list(body) == real["keys"] and list(got) == real["buckets"]
        assert {k: len(v) for k, v in got["result"].items()} == real["rows"]
        assert got["result_total"] == real["result_total"] and got["result_next"] == real["result_next"]
        assert got["result_error"] == real["result_error"] and list(got["result_time"]) == real["result_time_keys"]


def test_a_list_chain_follows_the_last_row_of_each_page_and_breaks_off_after_a_short_page(portal):
    """b24pysdk's as_list_fast chain: each command filters >ID on $result[previous][49][ID]."""
    for i in range(120):
        portal.sandbox.call("crm.company.add", {"fields": {"TITLE": f"C{i}"}})
    base = "crm.company.list?select[0]=ID&order[ID]=ASC&start=-1"
    cmd = {"1": f"{base}&filter[>ID]=0"} | {str(k): f"{base}&filter[>ID]=$result[{k - 1}][49][ID]" for k in (2, 3, 4)}
    body = portal.result("batch", halt=True, cmd=cmd)
    pages = [[int(row["ID"]) for row in body["result"][k]] for k in ("1", "2", "3")]
    assert pages == [list(range(1, 51)), list(range(51, 101)), list(range(101, 121))]
    assert body["result_total"] == {"1": 0, "2": 0, "3": 0, "4": 0} and body["result_next"] == []
    assert body["result_error"] == []  # command 4's filter got page 3 itself (the walk broke off): no error


def test_halt_stops_at_the_first_command_past_the_limit(portal):
    body = portal.result("batch", halt=1, cmd={f"k{i}": "crm.company.list?select[]=ID" for i in range(52)})
    assert len(body["result"]) == 50 and list(body["result_error"]) == ["k50"]


def test_halt_follows_php_truthiness(portal):
    cmd = {"a": "crm.company.get?id=999", "b": "crm.company.add?fields[TITLE]=B"}
    form = "halt=false&cmd[a]=crm.company.get%3Fid%3D999&cmd[b]=crm.company.add%3Ffields%5BTITLE%5D%3DB"
    response = portal.http.post(portal.srv.webhook_url + "batch", content=form,
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.json()["result"]["result"] == []  # (bool)"false" is true in PHP: the batch halted
    assert portal.result("batch", halt="0", cmd=cmd)["result"] == {"b": 1}
    assert portal.result("batch", halt=False, cmd=cmd)["result"] == {"b": 2}


def test_a_command_that_is_not_a_string_is_skipped_but_counts_towards_fifty(portal):
    cmd = {"n": 42, **{f"k{i}": "crm.company.list?select[]=ID" for i in range(50)}}
    body = portal.result("batch", cmd=cmd)
    assert "n" not in body["result"] and "n" not in body["result_error"]
    assert len(body["result"]) == 49 and list(body["result_error"]) == ["k49"]


def test_status_entity_items_in_a_named_batch_have_the_shape_of_the_real_reply(portal):
    """The recorded ``call_batch``: crm.status.entity.items for two lists under caller-chosen keys, each a list
    of {NAME, SORT (int), STATUS_ID}; no totals (``result_total`` is ``[]``), no next.  The lead STATUS list is
    not seeded (leads are not emulated), so the second command reads DEAL_STAGE; SOURCE is read as recorded."""
    real = real_reply("call_batch")["response"]["result"]
    body = portal.call("batch", halt=0, cmd={"statuses": "crm.status.entity.items?entityId=DEAL_STAGE",
                                             "sources": "crm.status.entity.items?entityId=SOURCE"}).json()
    mine = body["result"]
    assert list(mine) == BUCKETS and list(mine["result"]) == list(real["result"])
    assert {k: mine[k] for k in ("result_error", "result_total", "result_next")} == {
        k: real[k] for k in ("result_error", "result_total", "result_next")}
    for key in ("statuses", "sources"):
        assert {tuple((k, type(v).__name__) for k, v in row.items()) for row in mine["result"][key]} == {
            tuple((k, type(v).__name__) for k, v in row.items()) for row in real["result"][key]}
    assert [r["STATUS_ID"] for r in mine["result"]["sources"]][:2] == ["CALL", "EMAIL"]
    assert [r["SORT"] for r in mine["result"]["statuses"]] == [10, 20, 30, 40, 50, 60, 70, 80]
    direct = portal.call("crm.status.entity.items", entityId="SOURCE").json()
    assert "total" not in direct and direct["result"] == mine["result"]["sources"]
