"""Fault injection through ``/_sandbox/faults`` and ``sandbox.faults``: latency, errors, outages, storms, moves."""

from __future__ import annotations

import httpx
import pytest

from b24_sandbox import FaultSpecError

QUERY_LIMIT = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}


def test_the_endpoint_shows_sets_adds_and_clears_faults(portal):
    url = portal.url("/_sandbox/faults")
    assert portal.http.get(url).json() == {"seed": None, "latency": [], "errors": [], "outage": None,
                                           "storm": None, "moved": None}
    shown = portal.http.put(url, json={"seed": 7, "errors": [{"method": "crm.company.add", "rate": 0.5}]}).json()
    assert shown["seed"] == 7 and shown["errors"] == [{"method": "crm.company.add", "error": "INTERNAL_SERVER_ERROR",
                                                       "rate": 0.5, "count": None, "nested": False}]
    added = portal.http.post(url, json={"errors": {"error": "OVERLOAD_LIMIT"}, "storm": {"requests": 2}}).json()
    assert [e["error"] for e in added["errors"]] == ["INTERNAL_SERVER_ERROR", "OVERLOAD_LIMIT"]
    assert added["storm"] == {"seconds_left": None, "requests_left": 2}
    replaced = portal.http.put(url, json={"latency": {"seconds": 0.01}}).json()
    assert replaced["errors"] == [] and replaced["storm"] is None and replaced["latency"] == [
        {"method": "*", "seconds": 0.01}]
    assert portal.http.delete(url).json()["latency"] == []


@pytest.mark.parametrize("spec, message", [
    ({"errors": [{"rate": 2}]}, "errors[0].rate must be between 0 and 1, got 2"),
    ({"errors": [{"error": "TEAPOT"}]}, "errors[0].error 'TEAPOT' is not known"),
    ({"outage": {"mode": "503"}}, "outage.mode must be one of drop, 502, 504"),
    ({"latency": [{"method": "crm.deal.list"}]}, "latency[0] needs seconds, or both min and max"),
    ({"storm": {"requests": 0}}, "storm.requests must be a positive integer"),
    ({"moved": {"domain": "https://new.example"}}, "moved.domain must be a host name"),
    ({"latncy": []}, "unknown keys: latncy"),
])
def test_a_bad_fault_description_is_refused_with_the_field_and_the_reason(portal, spec, message):
    response = portal.http.put(portal.url("/_sandbox/faults"), json=spec)
    assert response.status_code == 400 and response.json()["error"] == "INVALID_FAULT"
    assert message in response.json()["error_description"]
    with pytest.raises(FaultSpecError, match="rate must be between"):
        portal.sandbox.faults.add_error(rate=1.5)


def test_an_error_rule_answers_the_portals_json_error_for_its_method_only(portal):
    portal.sandbox.faults.add_error("INTERNAL_SERVER_ERROR", method="crm.company.add", count=1)
    response = portal.call("crm.company.add", fields={"TITLE": "A"})
    assert response.status_code == 500
    assert response.json() == {"error": "INTERNAL_SERVER_ERROR", "error_description": "Internal server error"}
    assert portal.call("crm.company.list").status_code == 200
    assert portal.call("crm.company.add", fields={"TITLE": "B"}).json()["result"] == 1  # count used up
    assert portal.sandbox.stats()["faults"] == {"INTERNAL_SERVER_ERROR": 1}


@pytest.mark.parametrize("error, status", [("QUERY_LIMIT_EXCEEDED", 503), ("OVERLOAD_LIMIT", 503),
                                           ("ERROR_UNEXPECTED_ANSWER", 500), ("OPERATION_TIME_LIMIT", 429)])
def test_every_known_error_comes_with_its_http_status(portal, error, status):
    portal.sandbox.faults.add_error(error)
    response = portal.call("crm.company.list")
    assert response.status_code == status and response.json()["error"] == error


def test_access_denied_carries_the_free_plans_text_word_for_word(portal):
    """Reference §1.1 (code BIZ ``apauth/auth.php``): a free plan's portal answers this exact text."""
    portal.sandbox.faults.add_error("ACCESS_DENIED")
    response = portal.call("crm.company.list")
    assert response.status_code == 403 and response.json() == {
        "error": "ACCESS_DENIED", "error_description": "REST is available only on commercial plans."}


def test_an_error_rate_with_a_seed_fails_the_same_requests_every_run(make_portal):
    def pattern() -> list[int]:
        portal = make_portal(fault_seed=42)
        portal.sandbox.faults.add_error("QUERY_LIMIT_EXCEEDED", rate=0.3)
        return [portal.call("crm.company.list").status_code for _ in range(30)]

    first, second = pattern(), pattern()
    assert first == second and 0 < first.count(503) < 30


def test_html_error_pages_come_as_nginx_sends_them(portal):
    portal.sandbox.faults.add_error("HTML_502", count=1)
    response = portal.call("crm.company.list")
    assert response.status_code == 502 and response.headers["content-type"].startswith("text/html")
    assert "<center><h1>502 Bad Gateway</h1></center>" in response.text and "nginx" in response.text
    with pytest.raises(ValueError):
        response.json()
    assert portal.call("crm.company.list").status_code == 200


def test_latency_delays_the_answer_past_a_clients_timeout(portal):
    portal.sandbox.faults.add_latency(0.3, method="crm.deal.list")
    with pytest.raises(httpx.ReadTimeout):
        portal.http.post(portal.srv.webhook_url + "crm.deal.list", json={}, timeout=0.05)
    assert portal.call("crm.company.list").status_code == 200
    assert portal.sandbox.stats()["faults"]["latency"] == 1


def test_an_outage_drops_connections_until_it_ends(make_portal, clock):
    portal = make_portal()
    portal.sandbox.faults.outage(30)
    with httpx.Client() as fresh, pytest.raises(httpx.TransportError):
        fresh.post(portal.srv.webhook_url + "crm.company.list", json={})
    assert portal.http.get(portal.url("/_sandbox/stats")).json()["faults"] == {"outage": 1}
    clock.advance(30)
    assert portal.call("crm.company.list").status_code == 200


@pytest.mark.parametrize("mode, status", [("502", 502), ("504", 504)])
def test_an_outage_can_answer_gateway_pages_instead(portal, mode, status):
    portal.http.put(portal.url("/_sandbox/faults"), json={"outage": {"mode": mode, "requests": 1}})
    response = portal.call("crm.company.list")
    assert response.status_code == status and response.headers["content-type"].startswith("text/html")
    assert portal.call("crm.company.list").status_code == 200


def test_an_outage_until_cleared_ends_with_delete(portal):
    portal.sandbox.faults.outage(mode="502")
    assert all(portal.call("crm.company.list").status_code == 502 for _ in range(3))
    portal.http.delete(portal.url("/_sandbox/faults"))
    assert portal.call("crm.company.list").status_code == 200


def test_a_storm_by_requests_answers_query_limit_exceeded_that_many_times(portal):
    portal.sandbox.faults.storm(requests=2)
    replies = [portal.call("crm.company.list") for _ in range(3)]
    assert [r.status_code for r in replies] == [503, 503, 200]
    assert replies[0].json() == QUERY_LIMIT


def test_a_storm_by_seconds_follows_the_sandbox_clock(make_portal, clock):
    portal = make_portal()
    portal.sandbox.faults.storm(10)
    assert portal.call("crm.company.list").status_code == 503
    clock.advance(9)
    assert portal.call("crm.company.list").status_code == 503
    clock.advance(1)
    assert portal.call("crm.company.list").status_code == 200
    assert portal.sandbox.stats()["faults"] == {"storm": 2}


def test_a_moved_portal_redirects_to_the_new_domain_and_serves_it(portal):
    new_domain = f"localhost:{portal.srv.port}"
    portal.sandbox.faults.moved(new_domain)
    response = portal.http.post(portal.srv.webhook_url + "crm.company.list?start=0", json={})
    assert response.status_code == 302
    assert response.headers["location"] == (f"http://{new_domain}{portal.sandbox.config.webhook_path()}"
                                             "crm.company.list?start=0")
    assert response.headers["content-type"].startswith("text/html")
    moved = portal.http.post(response.headers["location"], json={})
    assert moved.status_code == 200 and moved.json()["total"] == 0


def test_nested_rules_fail_commands_inside_a_batch(portal):
    portal.sandbox.faults.add_error("INTERNAL_SERVER_ERROR", method="crm.company.get", nested=True)
    company_id = portal.company()
    body = portal.result("batch", cmd={"a": f"crm.company.get?id={company_id}", "b": "crm.company.list"})
    assert body["result_error"] == {"a": {"error": "INTERNAL_SERVER_ERROR",
                                          "error_description": "Internal server error"}}
    assert list(body["result"]) == ["b"]
    assert portal.call("crm.company.get", id=company_id).status_code == 500


def test_the_sandboxs_own_endpoints_are_never_faulted(portal):
    portal.sandbox.faults.outage(mode="502")
    assert portal.http.get(portal.url("/_sandbox/stats")).status_code == 200
    assert portal.http.get(portal.url("/healthz")).status_code == 200
    assert portal.http.post(portal.url("/_sandbox/reset")).status_code == 200
