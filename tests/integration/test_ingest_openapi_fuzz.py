"""Issue 13, item 6: the ingest's OpenAPI tells the truth, checked by schemathesis against the real app.

The app runs under uvicorn on a free port with its own database; schemathesis generates requests from
``/openapi.json`` (valid and invalid events, missing and wrong tokens) and runs all its checks on every
answer: no 5xx, status codes, content types, headers and bodies as declared, auth enforced (the same
request without the bearer token must get 401), invalid data refused, valid data accepted.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from bridge import db
from bridge.ingest import IngestConfig, create_app
from tests.helpers import free_port

HERE = Path(__file__).parent
TOKEN = "openapi-fuzz-token"
CASES = 50  # fuzzing cases per mode; the coverage phase adds its ~3,000 deterministic ones (~30 s idle)


@pytest.fixture
def ingest_url(db_url):
    """The ingest served by uvicorn in a thread, with a database of its own."""
    port = free_port()
    servers: list[uvicorn.Server] = []

    async def serve() -> None:  # the pool lives in the server's own event loop, as in `b24bridge ingest`
        pool = await db.create_pool(db_url, max_size=4)
        try:
            app = create_app(IngestConfig([TOKEN.encode()], max_body_bytes=1024 * 1024, body_timeout=5), pool=pool)
            servers.append(uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                                         lifespan="on")))
            await servers[0].serve()
        finally:
            await pool.close()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            httpx.get(f"{url}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.05)
    yield url
    servers[0].should_exit = True
    thread.join(timeout=10)


def test_the_openapi_declares_the_answers_the_token_and_the_limits():
    spec = create_app(IngestConfig([TOKEN.encode()])).openapi()
    operation = spec["paths"]["/v1/events"]["post"]
    body = {status: answer["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            for status, answer in operation["responses"].items() if "content" in answer}
    assert body == {"200": "Results", **{s: "ErrorBody" for s in ("400", "401", "403", "408", "413", "415", "500", "503")}}
    assert operation["security"] == [{"bearerAuth": []}]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "Retry-After" in operation["responses"]["503"]["headers"]
    for limit in ("16777216 bytes", "1000 events", "500000 JSON values", "100000 characters", "10000 elements"):
        assert limit in operation["description"]


def test_every_answer_of_the_ingest_matches_its_openapi(ingest_url, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--config-file", str(HERE / "schemathesis.toml"), "run", f"{ingest_url}/openapi.json", "--checks", "all",
         "--phases", "examples,coverage,fuzzing", "--max-examples", str(CASES), "--seed", "13",
         "--workers", "1", "--generation-database", "none", "--no-color", "--warnings", "off",
         "--header", f"Authorization: Bearer {TOKEN}", "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.integration.fuzz_checks",
             "PYTHONPATH": str(HERE.parent.parent)})
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    generated = re.search(r"Test cases:\s*(\d+) generated", run.stdout)
    assert generated and int(generated.group(1)) >= 100, run.stdout[-2000:]
