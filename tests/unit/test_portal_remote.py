"""Which read errors leave one section unchecked, and which stop the whole check (no HTTP: the error split)."""

from __future__ import annotations

import pytest

from bridge.errors import B24AccessDenied, B24AuthError, B24MethodNotFound, B24TransportError
from bridge.portal.remote import _guard
from bridge.portal.state import stage_from, user_field_from, user_from


async def failing(exc: Exception):
    raise exc


@pytest.mark.parametrize("exc", [
    B24AuthError("catalog.catalog.list", "insufficient_scope", "The request requires higher privileges", 401),
    B24AccessDenied("crm.requisite.preset.list", "ACCESS_DENIED", "Access denied!", 403),
    B24MethodNotFound("catalog.catalog.list", "ERROR_METHOD_NOT_FOUND", "Method not found!", 404),
])
async def test_a_missing_scope_or_right_leaves_only_that_section_unread_with_the_portals_reason(exc):
    value, reason = await _guard(failing(exc))
    assert value is None
    assert reason == f"{exc.code}: {exc.description}"


@pytest.mark.parametrize("exc", [
    B24AuthError("crm.category.list", "INVALID_CREDENTIALS", "Invalid request credentials", 401),
    B24TransportError("crm.category.list", "BRIDGE_TRANSPORT", "connection refused"),
])
async def test_a_webhook_that_does_not_work_at_all_stops_the_check(exc):
    with pytest.raises(type(exc)):
        await _guard(failing(exc))


def test_reply_rows_become_values_whatever_the_portal_types_them_as():
    assert stage_from({"STATUS_ID": "C2:LOSE", "NAME": "Провал", "SORT": "70", "SEMANTICS": "F"}).final
    assert stage_from({"STATUS_ID": "NEW", "NAME": "Новая", "SORT": "10", "SEMANTICS": None}).semantics == "P"
    field = user_field_from({"FIELD_NAME": "UF_CRM_X", "USER_TYPE_ID": "money", "MULTIPLE": "N",
                             "EDIT_FORM_LABEL": {"ru": "Сумма", "en": "Sum"}})
    assert (field.multiple, field.label) == (False, "Сумма")
    assert not user_from({"ID": "4", "NAME": "Мария", "ACTIVE": False}).active
    assert user_from({"ID": "4", "NAME": "Мария", "ACTIVE": "Y"}).active
