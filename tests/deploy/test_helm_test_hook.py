"""`helm test`: the chart's test Pod asks the ingest Service for /healthz and passes only on a 200."""

from __future__ import annotations

import subprocess
import sys
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.deploy.support import KUBE_VERSION, NAMESPACE, RELEASE, ci_values, of_kind, one, pod_spec, render

pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

FULL = f"{RELEASE}-onec-b24-bridge"
TEST_POD = f"{FULL}-test-ingest"


def test_the_test_pod_is_a_helm_test_hook_that_is_cleaned_up_after_passing():
    for values in (ci_values("minimal"), ci_values("everything")):
        pod = one(render(values), "Pod", TEST_POD)
        kubernetes_validate.validate(pod.doc, KUBE_VERSION, strict=True)
        assert pod.annotations["helm.sh/hook"] == "test"
        assert set(pod.annotations["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation",
                                                                                 "hook-succeeded"}
        assert pod.doc["spec"]["restartPolicy"] == "Never"


def test_the_test_pod_asks_healthz_of_the_ingest_service_on_the_port_that_reaches_the_ingest():
    values = ci_values("everything") | {"ingest": ci_values("everything")["ingest"] | {"service": {"port": 8181}}}
    manifests = render(values)
    container = pod_spec(one(manifests, "Pod", TEST_POD))["containers"][0]
    url = container["command"][-1]
    service = one(manifests, "Service", f"{FULL}-ingest").doc
    port = next(p for p in service["spec"]["ports"] if p["port"] == 8181)
    assert url == f"http://{service['metadata']['name']}.{NAMESPACE}.svc:8181/healthz"
    ingest = pod_spec(one(manifests, "Deployment", f"{FULL}-ingest"))["containers"][0]
    assert port["targetPort"] in {p["name"] for p in ingest["ports"]}
    assert ingest["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["targetPort"]}


def test_the_test_pod_runs_the_bridge_image_as_locked_down_as_the_bridge_itself():
    manifests = render(ci_values("everything"))
    pod = pod_spec(one(manifests, "Pod", TEST_POD))
    ingest = pod_spec(one(manifests, "Deployment", f"{FULL}-ingest"))
    container = pod["containers"][0]
    assert container["image"] == ingest["containers"][0]["image"]  # no other image to pull or mirror
    assert container["command"][0] == "python"  # the image's entrypoint is b24bridge; its venv has python
    assert container["securityContext"] == ingest["containers"][0]["securityContext"]
    assert pod["securityContext"] == ingest["securityContext"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["imagePullSecrets"] == ingest["imagePullSecrets"]
    assert container["resources"]["limits"]["memory"]


def test_no_test_pod_without_an_ingest_or_when_switched_off():
    assert not of_kind(render(ci_values("minimal") | {"helmTest": {"enabled": False}}), "Pod")
    assert not of_kind(render(ci_values("minimal") | {"ingest": {"enabled": False}}), "Pod")


@contextmanager
def answering(status: int):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(status if self.path == "/healthz" else 404)
            self.end_headers()
            self.wfile.write(b'{"status": "ok"}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz"
    finally:
        server.shutdown()
        server.server_close()


def run_test_pod_command(url: str) -> subprocess.CompletedProcess:
    """The Pod's command, run here with the URL pointed at a local server (and its waits between tries cut)."""
    command = pod_spec(one(render(ci_values("minimal")), "Pod", TEST_POD))["containers"][0]["command"]
    assert command[:2] == ["python", "-c"]
    script = "import time\ntime.sleep = lambda seconds: None\n" + command[2]
    return subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60)


def test_the_test_passes_when_the_ingest_answers_200():
    with answering(200) as url:
        done = run_test_pod_command(url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{url}: 200" in done.stdout


@pytest.mark.parametrize("status", [503, 404])
def test_the_test_fails_when_the_ingest_answers_anything_else(status: int):
    with answering(status) as url:
        done = run_test_pod_command(url)
    assert done.returncode == 1
    assert done.stdout.count("attempt") == 5 and str(status) in done.stdout


def test_the_test_fails_when_nothing_listens():
    with answering(200) as url:
        pass  # the server is gone: the port refuses connections
    done = run_test_pod_command(url)
    assert done.returncode == 1 and "attempt 5" in done.stdout
