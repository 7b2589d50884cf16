"""``/docs`` that works without the Internet, and an OpenAPI document that declares its bearer token.

FastAPI's own ``/docs`` loads Swagger UI from a CDN, so on a closed network (most 1C sites) the page is
blank.  Here the Swagger UI files come from the ``swagger-ui-bundle-v2`` package and are served by the app
itself under ``/docs/assets/``; the page asks no other host for anything (not even Swagger's validator).
ReDoc, which would need a CDN too, is left out.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
BEARER = "bearerAuth"


def install(app: FastAPI, *, token_description: str) -> None:
    """Replace the app's CDN-backed ``/docs`` (and ``/redoc``) by a self-hosted Swagger UI, and declare
    bearer-token authentication (``token_description`` says which tokens) for every documented operation."""
    dropped = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url} - {None}
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in dropped]
    app.docs_url = app.redoc_url = None
    app.mount(ASSETS_URL, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title}: API",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        if BEARER not in schemes:
            schemes[BEARER] = {"type": "http", "scheme": "bearer", "description": token_description}
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    if isinstance(operation, dict):
                        operation.setdefault("security", [{BEARER: []}])
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
