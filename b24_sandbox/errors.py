"""The errors a sandbox method can answer, with Bitrix24's codes, texts and HTTP statuses."""

from __future__ import annotations


class ApiError(Exception):
    """An error reply: ``{"error": code, "error_description": description}`` with ``status``.

    Legacy crm.* validation and not-found errors use the empty code ``""`` and HTTP 400; catalog.* uses
    numeric codes (kept as given, int or str).
    """

    def __init__(self, code: str | int, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.status = status

    def body(self) -> dict:
        return {"error": self.code, "error_description": self.description}


def invalid(description: str) -> ApiError:
    """A legacy validation or not-found error: ``error: ""``, HTTP 400 (never 404 for a missing record)."""
    return ApiError("", description, 400)


def core(description: str) -> ApiError:
    """An ``ERROR_CORE`` error (core validation such as a bad e-mail or a duplicate status id)."""
    return ApiError("ERROR_CORE", description, 400)


def method_not_found() -> ApiError:
    return ApiError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)


def invalid_credentials() -> ApiError:
    return ApiError("INVALID_CREDENTIALS", "Invalid request credentials", 401)


def no_auth() -> ApiError:
    return ApiError("NO_AUTH_FOUND", "Wrong authorization data", 401)


def query_limit() -> ApiError:
    return ApiError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)


ID_INVALID = "ID is not defined or invalid."
FIELDS_NOT_ARRAY = "Parameter 'fields' must be array."
NOT_FOUND = "Not found"
