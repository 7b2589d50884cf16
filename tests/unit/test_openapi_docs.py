"""/docs works on a machine without Internet: its page asks no other host, every asset it names is served
by the ingest itself, and the OpenAPI document says how to authenticate."""

from __future__ import annotations

import re

import httpx

from bridge.ingest import IngestConfig, create_app


def client() -> httpx.AsyncClient:
    app = create_app(IngestConfig([b"docs-test-token"]))  # no database: the docs need none
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")


async def test_the_docs_page_references_no_external_host_and_every_asset_answers():
    async with client() as http:
        page = await http.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", page.text, re.IGNORECASE), \
            "the page loads something from another host"
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
        for asset in assets:
            reply = await http.get(asset)
            assert reply.status_code == 200 and len(reply.content) > 100, asset
        assert "'validatorUrl': null" in page.text or '"validatorUrl": null' in page.text  # no validator badge call
        assert (await http.get("/openapi.json")).status_code == 200
        assert (await http.get("/redoc")).status_code == 404  # ReDoc would need a CDN


async def test_the_openapi_document_declares_the_bearer_token_on_the_ingest():
    async with client() as http:
        spec = (await http.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    [(name, scheme)] = schemes.items()
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "BRIDGE_INGEST_TOKENS" in scheme["description"]
    assert spec["paths"]["/v1/events"]["post"]["security"] == [{name: []}]
    assert "Event" in spec["components"]["schemas"]  # the contract schema is still there
