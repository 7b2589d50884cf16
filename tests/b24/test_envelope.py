"""Replies → results or typed errors, chosen by the portal's ``error`` string (reference §2.3)."""

import json
from pathlib import Path

import pytest

from bridge.b24.envelope import NON_JSON, Page, items_of, parse_batch, parse_reply
from bridge.errors import (
    B24AccessDenied,
    B24AuthError,
    B24MethodNotFound,
    B24NotFound,
    B24OperationTimeLimit,
    B24PortalMoved,
    B24QueryLimitExceeded,
    B24ServerError,
    B24TokenExpired,
    B24ValidationError,
    PermanentError,
    RetryableError,
    ServiceUnavailable,
)

REPLIES = Path(__file__).parent / "replies"


def real(name: str):
    return json.loads((REPLIES / f"{name}.json").read_text())["replies"]["response"]


def fail(status, payload, content_type="application/json"):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    with pytest.raises(Exception) as info:
        parse_reply("crm.deal.get", status, content_type, body)
    return info.value


@pytest.mark.parametrize(
    ("status", "code", "description", "expected"),
    [
        (503, "QUERY_LIMIT_EXCEEDED", "Too many requests", B24QueryLimitExceeded),
        (
            429,
            "OPERATION_TIME_LIMIT",
            "Method is blocked due to operation time limit.",
            B24OperationTimeLimit,
        ),
        (401, "NO_AUTH_FOUND", "Wrong authorization data", B24AuthError),
        (401, "INVALID_CREDENTIALS", "Invalid request credentials", B24AuthError),
        (403, "insufficient_scope", "", B24AuthError),
        (401, "invalid_token", "Unable to get application by token", B24AuthError),
        (401, "authorization_error", "", B24AuthError),
        (401, "expired_token", "The access token provided has expired", B24TokenExpired),
        (403, "ACCESS_DENIED", "REST is available only on commercial plans.", B24AccessDenied),
        (400, "", "Access denied.", B24AccessDenied),
        (404, "ERROR_METHOD_NOT_FOUND", "Method not found!", B24MethodNotFound),
        (400, "", "Not found", B24NotFound),
        (400, "", "Company is not found", B24NotFound),
        (400, "", "The Requisite with ID '5' is not found", B24NotFound),
        (400, "", "TypeAddress not found", B24NotFound),
        (400, "", "The 'FIELD_NAME' field is not found.", B24ValidationError),
        (400, "", "ID is not defined or invalid.", B24ValidationError),
        (400, "ERROR_CORE", "invalid e-mail", B24ValidationError),
        (400, "ERROR_ARGUMENT", "bad filter", B24ValidationError),
        (400, 200040300010, "Access to the product is denied", B24ValidationError),
        (500, "INTERNAL_SERVER_ERROR", "", B24ServerError),
        (500, "ERROR_CORE", "SQL query error!", B24ServerError),
        (503, "OVERLOAD_LIMIT", "REST API is blocked due to overload.", B24ServerError),
    ],
)
def test_error_class_follows_the_error_string(status, code, description, expected):
    exc = fail(status, {"error": code, "error_description": description})
    assert type(exc) is expected
    assert exc.code == str(code)
    assert exc.description == description
    assert exc.status == status
    assert exc.method == "crm.deal.get"


def test_the_status_does_not_decide_when_the_code_is_known():
    assert type(fail(403, {"error": "QUERY_LIMIT_EXCEEDED"})) is B24QueryLimitExceeded
    assert type(fail(400, {"error": "expired_token"})) is B24TokenExpired


def test_limits_and_5xx_are_retryable_refused_data_is_permanent_and_a_refused_webhook_pauses():
    assert isinstance(fail(503, {"error": "QUERY_LIMIT_EXCEEDED"}), RetryableError)
    assert isinstance(fail(429, {"error": "OPERATION_TIME_LIMIT"}), RetryableError)
    assert isinstance(fail(400, {"error": "", "error_description": "Not found"}), PermanentError)
    refused = fail(401, {"error": "NO_AUTH_FOUND"})  # every call would fail alike: pause, not dead-letter
    assert isinstance(refused, ServiceUnavailable) and not isinstance(refused, PermanentError)


def test_operation_time_limit_carries_the_reset_time_it_was_given():
    with pytest.raises(B24OperationTimeLimit) as info:
        parse_reply(
            "crm.deal.list", 429, "application/json", b'{"error":"OPERATION_TIME_LIMIT"}', reset_at=1778747792
        )
    assert info.value.reset_at == 1778747792


def test_an_html_error_page_is_a_server_error_with_its_title():
    exc = fail(
        503, b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>", "text/html"
    )
    assert type(exc) is B24ServerError
    assert exc.code == NON_JSON
    assert "503 Service Temporarily Unavailable" in exc.description


def test_a_json_error_sent_as_text_html_is_still_read_as_json():
    assert type(fail(503, {"error": "QUERY_LIMIT_EXCEEDED"}, "text/html")) is B24QueryLimitExceeded


def test_an_html_page_with_status_200_is_a_server_error():
    assert type(fail(200, b"<html>maintenance</html>", "text/html")) is B24ServerError


def test_a_redirect_is_reported_as_portal_moved_with_its_location():
    with pytest.raises(B24PortalMoved) as info:
        parse_reply(
            "crm.deal.get", 302, "text/html", b"", location="https://new.bitrix24.ru/rest/7/***/crm.deal.get"
        )
    assert info.value.location == "https://new.bitrix24.ru/rest/7/***/crm.deal.get"
    assert "new.bitrix24.ru" in str(info.value)


def test_a_success_envelope_gives_result_total_and_next():
    page = Page.from_envelope(
        parse_reply(
            "crm.company.list",
            200,
            "application/json",
            b'{"result":[{"ID":"1"}],"total":"120","next":50,"time":{}}',
        )
    )
    assert (page.result, page.total, page.next) == ([{"ID": "1"}], 120, 50)


def test_real_one_page_list_has_total_and_no_next():
    page = Page.from_envelope(real("crm_lead_list_one_page_success"))
    assert page.total == 39 and page.next is None and len(page.items) == 39


def test_real_wrapped_list_rows_are_found_inside_the_wrapper():
    page = Page.from_envelope(real("crm_item_list"))
    assert len(page.items) == 3 and page.total == 3


def test_items_of_refuses_a_result_that_is_not_rows():
    with pytest.raises(TypeError):
        items_of({"a": [1], "b": [2]})


def test_real_batch_with_empty_buckets_as_lists():
    result = parse_batch(real("batch_list_empty"), {"order0000000000": "crm.lead.list"})
    page = result.page("order0000000000")
    assert page.result == [] and page.total == 0 and page.next is None
    assert result.ok


def test_real_batch_with_errors_collapsed_into_a_list_maps_them_to_keys_zero_and_one():
    result = parse_batch(
        real("crm_get_batch_mix_success_and_errors"),
        {"0": "crm.lead.get", "1": "crm.lead.get", "35943": "crm.lead.get"},
    )
    assert result["35943"] == {"ID": "35943"}
    assert type(result.errors["0"]) is B24ValidationError
    assert type(result.errors["1"]) is B24NotFound
    with pytest.raises(B24NotFound):
        result.page("1")


def test_real_batch_add_returns_the_bare_id():
    response = real("crm_contact_add_batch")
    key = next(iter(response["result"]["result"]))
    assert parse_batch(response, {key: "crm.contact.add"})[key] == 58943


def test_real_batch_times_carry_operating_reset_at():
    response = real("crm_company_contact_items_get")
    result = parse_batch(response, {"205364": "crm.company.contact.items.get"})
    assert "operating_reset_at" in result.times["205364"]


def test_commands_missing_after_halt_are_skipped_not_errors():
    envelope = {
        "result": {
            "result": {"a": 1},
            "result_error": {"b": {"error": "", "error_description": "x"}},
            "result_total": [],
            "result_next": [],
            "result_time": [],
        }
    }
    result = parse_batch(envelope, {"a": "crm.deal.get", "b": "crm.deal.get", "c": "crm.deal.get"})
    assert result.skipped == ("c",)
    with pytest.raises(KeyError, match="halt"):
        result.page("c")
