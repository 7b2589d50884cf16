"""Every sandbox test talks to a real sandbox over real HTTP (uvicorn in a thread, httpx as the client)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from b24_sandbox import ManualClock, SandboxConfig, serve_in_thread

REAL_REPLIES = Path(__file__).parent / "real_replies"


class Portal:
    """A thin test client: ``portal.call("crm.company.add", fields={...})`` → the httpx response."""

    def __init__(self, srv: Any, client: httpx.Client) -> None:
        self.srv = srv
        self.sandbox = srv.sandbox
        self.http = client

    def call(self, method: str, **params: Any) -> httpx.Response:
        return self.http.post(self.srv.webhook_url + method, json=params)

    def url(self, path: str) -> str:
        return self.srv.base_url + path

    def result(self, method: str, **params: Any) -> Any:
        response = self.call(method, **params)
        assert response.status_code == 200, response.text
        return response.json()["result"]

    def error(self, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
        response = self.call(method, **params)
        assert response.status_code != 200, response.text
        return response.status_code, response.json()

    def company(self, **fields: Any) -> int:
        return self.result("crm.company.add", fields={"TITLE": "ООО Ромашка", **fields})

    def contact(self, **fields: Any) -> int:
        return self.result("crm.contact.add", fields={"NAME": "Иван", "LAST_NAME": "Петров", **fields})

    def requisite(self, company_id: int, **fields: Any) -> int:
        return self.result("crm.requisite.add", fields={"ENTITY_TYPE_ID": 4, "ENTITY_ID": company_id,
                                                        "PRESET_ID": 1, "NAME": "Организация", **fields})


@pytest.fixture(scope="session")
def http_client():
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def portal(http_client):
    with serve_in_thread(SandboxConfig(rate=0)) as srv:
        yield Portal(srv, http_client)


@pytest.fixture
def clock():
    return ManualClock(1_750_000_000.0)


@pytest.fixture
def make_portal(http_client, clock):
    """``make_portal(**config)`` → a Portal on its own sandbox, driven by the test's manual ``clock``."""
    with contextlib.ExitStack() as stack:
        def make(**config: Any) -> Portal:
            srv = stack.enter_context(serve_in_thread(SandboxConfig(**{"rate": 0, **config}), clock=clock))
            return Portal(srv, http_client)

        yield make


def real_reply(name: str) -> dict[str, Any]:
    return json.loads((REAL_REPLIES / f"{name}.json").read_text())["replies"]


def shape(value: Any) -> Any:
    """The JSON shape of a value: containers kept, scalars replaced by their type name."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return type(value).__name__
