"""``state_file``: the portal survives restarts (atomic writes, ids continue, OAuth tokens kept)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import httpx
import pytest

from b24_sandbox import Sandbox, SandboxConfig, serve_in_thread
from b24_sandbox.persistence import DebouncedSaver, StateFile, StateFileError

from .test_cli import _free_port, _wait_for


def _fill(sandbox: Sandbox) -> None:
    company_id = sandbox.call("crm.company.add", {"fields": {"TITLE": "ООО Ромашка", "REVENUE": "1500.50",
                                                             "PHONE": [{"VALUE": "+7 495 000-00-00"}]}}).result.value
    sandbox.call("crm.contact.add", {"fields": {"NAME": "Иван", "COMPANY_IDS": [company_id]}})
    requisite_id = sandbox.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company_id,
                                                                 "PRESET_ID": 1, "NAME": "Реквизит"}}).result.value
    sandbox.call("crm.address.add", {"fields": {"TYPE_ID": 6, "ENTITY_TYPE_ID": 8, "ENTITY_ID": requisite_id,
                                                "CITY": "Москва"}})
    deal_id = sandbox.call("crm.deal.add", {"fields": {"TITLE": "Заказ", "COMPANY_ID": company_id}}).result.value
    sandbox.call("crm.deal.productrows.set", {"id": deal_id, "rows": [{"PRODUCT_NAME": "Кирпич", "PRICE": 12.5}]})


def test_a_restarted_sandbox_has_the_same_portal_and_ids_continue(tmp_path):
    path = tmp_path / "portal.json"
    first = Sandbox(SandboxConfig(state_file=str(path)))
    _fill(first)
    before = first.state()
    first.close()
    second = Sandbox(SandboxConfig(state_file=str(path)))
    assert second.state() == before
    assert second.call("crm.company.add", {"fields": {"TITLE": "Вторая"}}).result.value == 2
    assert second.call("crm.deal.get", {"id": 1}).result.value["OPPORTUNITY"] == "12.50"


def test_the_file_is_written_atomically_and_tagged(tmp_path):
    path = tmp_path / "state" / "portal.json"
    sandbox = Sandbox(SandboxConfig(state_file=str(path)))
    _fill(sandbox)
    sandbox.flush()
    assert os.listdir(path.parent) == ["portal.json"]  # no temporary file left behind
    data = json.loads(path.read_text())
    assert data["format"] == "b24-sandbox-state" and data["version"] == 1
    assert data["store"]["counters"]["companies"] == 1


def test_nothing_is_written_until_something_changes(tmp_path):
    path = tmp_path / "portal.json"
    sandbox = Sandbox(SandboxConfig(state_file=str(path)))
    sandbox.call("crm.company.list")
    sandbox.close()
    assert not path.exists()
    sandbox.call("crm.company.add", {"fields": {"TITLE": "A"}})
    sandbox.close()
    assert path.exists()


def test_changes_close_together_make_one_write():
    writes = []
    saver = DebouncedSaver(lambda: writes.append(1), delay=60)
    for _ in range(5):
        saver.mark()
    saver.flush()
    saver.flush()
    assert writes == [1]


def test_a_change_is_saved_by_itself_shortly_after(tmp_path):
    path = tmp_path / "portal.json"
    sandbox = Sandbox(SandboxConfig(state_file=str(path), save_delay=0.01))
    saved = threading.Event()
    real_save = sandbox._state_file.save
    sandbox._state_file.save = lambda payload: (real_save(payload), saved.set())
    sandbox.call("crm.company.add", {"fields": {"TITLE": "Autosaved"}})
    assert saved.wait(timeout=5)
    assert "Autosaved" in path.read_text(encoding="utf-8")


def test_oauth_tokens_survive_a_restart(tmp_path):
    path = str(tmp_path / "portal.json")
    with serve_in_thread(SandboxConfig(rate=0, state_file=path)) as srv:
        tokens = srv.sandbox.oauth.mint(base_url=srv.base_url)
    with serve_in_thread(SandboxConfig(rate=0, state_file=path)) as srv:
        response = httpx.post(srv.rest_url + "crm.company.list", json={"auth": tokens["access_token"]})
        assert response.status_code == 200
        refreshed = httpx.get(srv.token_url, params={
            "grant_type": "refresh_token", "client_id": srv.sandbox.config.oauth_client_id,
            "client_secret": srv.sandbox.config.oauth_client_secret, "refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200


def test_a_file_that_is_not_a_sandbox_state_is_refused(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(StateFileError, match="is not a sandbox state file"):
        Sandbox(SandboxConfig(state_file=str(path)))
    path.write_text("{broken")
    with pytest.raises(StateFileError, match="cannot read"):
        StateFile(path).load()


def test_cli_keeps_the_portal_in_the_state_file_across_restarts(tmp_path):
    path = tmp_path / "portal.json"

    def run() -> tuple[subprocess.Popen, str]:
        port = _free_port()
        process = subprocess.Popen(
            [sys.executable, "-c", "from bridge.cli import main; main()", "sandbox", "--port", str(port),
             "--rate", "0", "--state-file", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        return process, _wait_for(process, port)

    def stop(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully: the lifespan saves the file
        process.wait(timeout=10)

    first, url = run()
    try:
        assert httpx.post(url + "crm.company.add", json={"fields": {"TITLE": "CLI"}}).json()["result"] == 1
    finally:
        stop(first)
    second, url = run()
    try:
        assert httpx.post(url + "crm.company.add", json={"fields": {"TITLE": "CLI 2"}}).json()["result"] == 2
        companies = httpx.post(url + "crm.company.list", json={"select": ["TITLE"]}).json()["result"]
        assert [c["TITLE"] for c in companies] == ["CLI", "CLI 2"]
    finally:
        stop(second)
