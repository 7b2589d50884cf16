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


def _wait_for(process: subprocess.Popen, port: int) -> str:
    """Read the printed webhook URL and wait until the server answers; returns the URL."""
    assert process.stdout is not None
    first_line = process.stdout.readline().strip()
    assert first_line.startswith("Webhook URL: http://127.0.0.1:"), first_line
    url = first_line.split(" ", 2)[-1]
    deadline = time.monotonic() + 15
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz")
            return url
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None, "sandbox did not start"
            time.sleep(0.05)


def test_cli_prints_the_webhook_url_and_logs_json_without_the_code(tmp_path):
    port, code = _free_port(), "clisecret42"
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", "from bridge.cli import main; main()", "sandbox", "--port", str(port),
             "--webhook-user", "5", "--webhook-code", code, "--rate", "0", "--extra-webhook", "6/secondsecret",
             "--operating-limit", "1", "--operating-cost", "2", "--webhook-scope", "crm"],
            stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        url = _wait_for(process, port)
        assert url == f"http://127.0.0.1:{port}/rest/5/{code}/"
        response = httpx.post(url + "crm.company.add", json={"fields": {"TITLE": "CLI"}})
        assert response.json()["result"] == 1 and response.json()["time"]["operating"] == 2
        assert httpx.post(url + "crm.company.add", json={"fields": {"TITLE": "CLI"}}).status_code == 429
        second = httpx.post(f"http://127.0.0.1:{port}/rest/6/secondsecret/crm.company.list", json={})
        assert second.json()["total"] == 1
        refused = httpx.post(url + "catalog.catalog.list", json={})
        assert refused.status_code == 401 and refused.json()["error"] == "insufficient_scope"
    finally:
        process.terminate()
        process.wait(timeout=10)
    logged = log.read_text()
    assert '"action": "sandbox.call"' in logged and "crm.company.add" in logged
    assert code not in logged and "secondsecret" not in logged


def test_cli_refuses_a_malformed_extra_webhook():
    result = subprocess.run([sys.executable, "-c", "from bridge.cli import main; main()", "sandbox",
                             "--extra-webhook", "nobody"], check=False, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 2 and "expected USER_ID/CODE" in result.stderr


WITHOUT_SANDBOX = "import sys; sys.modules['b24_sandbox'] = None; from bridge.cli import main; main()"


def _cli_without_the_sandbox(*args: str) -> subprocess.CompletedProcess:
    """Run b24bridge as the production image has it: the optional b24_sandbox package cannot be imported."""
    return subprocess.run([sys.executable, "-c", WITHOUT_SANDBOX, *args], check=False, capture_output=True,
                          text=True, timeout=60)


def test_without_the_sandbox_package_sandbox_and_demo_say_how_to_install_it_and_exit_2():
    for args in (("sandbox", "--port", "8090"), ("sandbox", "--help"), ("demo", "--seed", "3")):
        result = _cli_without_the_sandbox(*args)
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "pip install 'onec-b24-bridge[demo]'" in lines[0] and result.stdout == ""


def test_without_the_sandbox_package_the_other_commands_still_load():
    result = _cli_without_the_sandbox("--help")
    assert result.returncode == 0, result.stderr
    listed = result.stdout
    for name in ("ingest", "relay", "consume", "migrate", "portal", "sandbox", "demo"):
        assert f"  {name} " in listed, name
    assert _cli_without_the_sandbox("migrate", "--help").returncode == 0  # a command module loads only when run


def test_a_missing_module_other_than_the_sandbox_still_fails_loudly():
    """Only the optional sandbox is tolerated: any other missing import is a bug and must show as one."""
    result = subprocess.run([sys.executable, "-c", "import sys; sys.modules['uvicorn'] = None; "
                             "from bridge.cli import main; main()", "ingest", "--help"],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "ModuleNotFoundError" in result.stderr and "uvicorn" in result.stderr
