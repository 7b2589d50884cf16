"""The webhook URL, authentication, body encodings and the reply envelope."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx

from b24_sandbox import SandboxConfig

TIME_KEYS = ["start", "finish", "duration", "processing", "date_start", "date_finish", "operating_reset_at",
             "operating"]


def test_success_envelope_carries_result_and_the_time_block(portal):
    body = portal.call("crm.company.add", fields={"TITLE": "ACME"}).json()
    assert list(body) == ["result", "time"]
    assert list(body["time"]) == TIME_KEYS
    assert isinstance(body["time"]["start"], float) and body["time"]["date_start"].endswith("+03:00")


def test_wrong_webhook_code_answers_401_invalid_credentials(portal):
    response = portal.http.post(portal.srv.base_url + "/rest/1/wrongcode/crm.company.list", json={})
    assert response.status_code == 401
    assert response.json() == {"error": "INVALID_CREDENTIALS", "error_description": "Invalid request credentials"}


def test_wrong_webhook_user_answers_401(portal):
    code = portal.sandbox.config.webhook_code
    response = portal.http.post(f"{portal.srv.base_url}/rest/7/{code}/crm.company.list", json={})
    assert response.status_code == 401 and response.json()["error"] == "INVALID_CREDENTIALS"


def test_unknown_method_answers_404_method_not_found(portal):
    response = portal.call("crm.company.teleport")
    assert response.status_code == 404
    assert response.json() == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}


def test_an_unknown_method_is_404_before_the_webhook_code_is_checked(portal):
    """CRestServer::processExecution looks the method up (checkScope, "Method not found!") before checkAuth,
    so a wrong code on an unknown method still answers 404, as the app path /rest/<method> does here."""
    response = portal.http.post(portal.srv.base_url + "/rest/1/wrongcode/crm.company.teleport", json={})
    assert response.status_code == 404
    assert response.json() == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
    app = portal.http.post(portal.srv.base_url + "/rest/crm.company.teleport", json={})
    assert app.status_code == 404 and app.json()["error"] == "ERROR_METHOD_NOT_FOUND"


def test_the_webhook_base_url_is_404_and_its_code_never_becomes_a_metric_label(portal):
    code = portal.srv.webhook_url.rstrip("/").rsplit("/", 1)[-1]
    for path in (portal.srv.webhook_url, portal.srv.webhook_url.rstrip("/"), portal.srv.base_url + "/rest/x/y/z/scan"):
        assert portal.http.post(path, json={}).status_code == 404
    exposition = portal.http.get(portal.srv.base_url + "/metrics").text
    assert code not in exposition and 'method="scan"' not in exposition


def test_malformed_webhook_path_answers_404(portal):
    response = portal.http.post(portal.srv.base_url + "/rest/abc/def/ghi/crm.company.list", json={})
    assert response.status_code == 404 and response.json()["error"] == "ERROR_METHOD_NOT_FOUND"


def test_json_suffix_and_method_case_are_ignored(portal):
    assert portal.call("CRM.Company.Add.json", fields={"TITLE": "ACME"}).json()["result"] == 1
    assert portal.result("crm.company.get.json", id=1)["TITLE"] == "ACME"


def test_form_encoded_and_json_bodies_give_the_same_result(portal):
    form = "fields[TITLE]=ACME&fields[PHONE][0][VALUE]=%2B79001234567&fields[PHONE][0][VALUE_TYPE]=WORK"
    by_form = portal.http.post(portal.srv.webhook_url + "crm.company.add", content=form,
                               headers={"Content-Type": "application/x-www-form-urlencoded"}).json()["result"]
    by_json = portal.result("crm.company.add", fields={"TITLE": "ACME",
                                                       "PHONE": [{"VALUE": "+79001234567", "VALUE_TYPE": "WORK"}]})
    a = portal.result("crm.company.get", id=by_form)
    b = portal.result("crm.company.get", id=by_json)
    for record in (a, b):
        for key in ("ID", "DATE_CREATE", "DATE_MODIFY"):
            record.pop(key)
        record["PHONE"][0].pop("ID")
    assert a == b


def test_get_with_a_query_string_works_like_post(portal):
    company_id = portal.company(TITLE="Query")
    response = portal.http.get(portal.srv.webhook_url + f"crm.company.get?id={company_id}")
    assert response.status_code == 200 and response.json()["result"]["TITLE"] == "Query"


def test_multipart_body_is_parsed_with_bracket_keys(portal):
    response = portal.http.post(portal.srv.webhook_url + "crm.company.add",
                                files={"fields[TITLE]": (None, "Multipart"),
                                       "fields[EMAIL][0][VALUE]": (None, "info@example.ru")})
    company = portal.result("crm.company.get", id=response.json()["result"])
    assert company["TITLE"] == "Multipart" and company["EMAIL"][0]["VALUE"] == "info@example.ru"


def test_oauth_style_path_without_a_token_answers_401_no_auth_found(portal):
    response = portal.http.post(portal.srv.base_url + "/rest/crm.company.list", json={})
    assert response.status_code == 401 and response.json()["error"] == "NO_AUTH_FOUND"


def test_custom_webhook_user_and_code_are_honoured():
    from b24_sandbox import serve_in_thread

    with serve_in_thread(SandboxConfig(webhook_user=9, webhook_code="abc123", rate=0)) as srv:
        assert srv.webhook_url.endswith("/rest/9/abc123/")
        assert httpx.post(srv.webhook_url + "crm.company.list", json={}).status_code == 200


def test_an_xml_suffix_answers_the_same_envelope_as_php_writes_it_in_xml(portal):
    """EN general-principles.md: ``.xml`` returns the reply as XML under ``<response>``; CRestServer::outputXml
    names list entries ``<item>``, writes true as 1 and null/false as nothing, escapes text, text/xml."""
    portal.company(TITLE="Рога & Копыта")
    portal.company(TITLE="ACME")
    response = portal.http.post(portal.srv.webhook_url + "crm.company.list.xml",
                                json={"select": ["ID", "TITLE", "LOGO"], "order": {"ID": "ASC"}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    text = response.text
    assert text.startswith("<response><result><item><ID>1</ID><TITLE>Рога &amp; Копыта</TITLE>")
    assert "<item><ID>2</ID><TITLE>ACME</TITLE>" in text and "<total>2</total><time><start>" in text
    assert text.endswith("</time></response>")
    root = ElementTree.fromstring(text)
    assert [item.findtext("TITLE") for item in root.find("result")] == ["Рога & Копыта", "ACME"]
    assert "<LOGO></LOGO>" in text  # null: an empty element
    update = portal.http.post(portal.srv.webhook_url + "crm.company.update.XML", json={"id": 1, "fields": {}})
    assert ElementTree.fromstring(update.text).findtext("result") == "1"


def test_an_xml_error_reply_keeps_its_status(portal):
    response = portal.http.post(portal.srv.webhook_url + "crm.deal.get.xml", json={"id": 999})
    assert response.status_code == 400 and response.headers["content-type"].startswith("text/xml")
    assert response.text == "<response><error></error><error_description>Not found</error_description></response>"
    missing = portal.http.post(portal.srv.webhook_url + "crm.nothing.here.xml")
    assert missing.status_code == 404 and "<error>ERROR_METHOD_NOT_FOUND</error>" in missing.text


def test_xml_names_digit_keys_item_as_php_stores_them_as_integers(portal):
    """A batch keyed by an entity id ("35943") is an int key in PHP, so its element is ``<item>`` too."""
    response = portal.http.post(portal.srv.webhook_url + "batch.xml",
                                json={"cmd": {"35943": "crm.company.add?fields[TITLE]=A", "x": "user.current"}})
    root = ElementTree.fromstring(response.text)
    assert [child.tag for child in root.find("result/result")] == ["item", "x"]
    assert root.findtext("result/result/item") == "1"
    assert root.find("result/result_error").text is None


def test_a_method_outside_the_webhooks_scope_answers_401_insufficient_scope(make_portal):
    """§1.1/§2.3: a scope the webhook was not given → insufficient_scope; the code path (APAuth\\Auth::check,
    OAuthException) sends 401 with the webhook's wording. Other scopes keep working."""
    portal = make_portal(webhook_scope="crm,user")
    response = portal.call("catalog.catalog.list")
    assert response.status_code == 401
    assert response.json() == {"error": "insufficient_scope", "error_description":
                               "The request requires higher privileges than provided by the webhook token"}
    assert portal.call("im.notify.system.add", USER_ID=1, MESSAGE="x").status_code == 401
    assert portal.call("crm.company.list").status_code == 200
    assert portal.call("user.current").status_code == 200
    assert portal.call("crm.company.teleport").status_code == 404  # the method is looked up first


def test_a_batch_command_outside_the_scope_fails_alone_with_insufficient_scope(make_portal):
    """batch itself needs no scope; CRestServerBatchItem::checkAuth refuses each command outside the
    webhook's scope with OAuthException(['error' => 'insufficient_scope']): no description."""
    portal = make_portal(webhook_scope="crm")
    reply = portal.result("batch", cmd={"a": "crm.company.add?fields[TITLE]=A", "b": "catalog.catalog.list",
                                        "c": "crm.company.get?id=$result[a]"})
    assert reply["result"]["a"] == 1 and reply["result"]["c"]["TITLE"] == "A"
    assert reply["result_error"] == {"b": {"error": "insufficient_scope", "error_description": ""}}


def test_an_app_token_is_held_to_the_apps_scope(make_portal):
    """oauth/auth.php: a method outside the token's scope → 401 insufficient_scope, the access token's wording."""
    portal = make_portal(oauth_scope="crm")
    token = portal.sandbox.oauth.mint()["access_token"]
    response = portal.http.post(portal.srv.rest_url + "user.current", json={"auth": token})
    assert response.status_code == 401
    assert response.json() == {"error": "insufficient_scope", "error_description":
                               "The request requires higher privileges than provided by the access token"}
    assert portal.http.post(portal.srv.rest_url + "crm.company.list", json={"auth": token}).status_code == 200
