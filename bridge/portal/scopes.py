"""The Bitrix24 webhook (or OAuth app) scopes the bridge needs, and why: the one list the CLI, the portal
check and the docs use (tests/test_docs.py keeps README and docs/*.md to it)."""

from __future__ import annotations

WEBHOOK_SCOPES: dict[str, str] = {
    "crm": "companies, contacts, requisites, deals, stages and deal user fields",
    "user": "the responsible managers (user.get)",
    "im": "'client paid' notifications to managers (im.notify.system.add)",
    "catalog": "products and prices (catalog.*)",
}


def scopes_text() -> str:
    """``crm, user, im, catalog``"""
    return ", ".join(WEBHOOK_SCOPES)
