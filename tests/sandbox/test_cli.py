"""``b24bridge sandbox`` serves the portal, prints the webhook URL, and keeps the code out of its logs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_prints_the_webhook_url_and_logs_json_without_the_code(tmp_path):
    port, code = _free_port(), "clisecret42"
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", "from bridge.cli import main; main()", "sandbox", "--port", str(port),
             "--webhook-user", "5", "--webhook-code", code, "--rate", "0"],
            stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline().strip()
        assert first_line == f"Webhook URL: http://127.0.0.1:{port}/rest/5/{code}/"
        url = first_line.split(" ", 2)[-1]
        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.post(url + "crm.company.add", json={"fields": {"TITLE": "CLI"}})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        assert response.json()["result"] == 1
    finally:
        process.terminate()
        process.wait(timeout=10)
    logged = log.read_text()
    assert '"action": "sandbox.call"' in logged and "crm.company.add" in logged
    assert code not in logged
