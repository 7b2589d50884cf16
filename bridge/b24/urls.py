"""Where a CRM object opens on the portal, for people: ``https://PORTAL/crm/deal/details/123/``.

Built from the portal's origin only (scheme and host of the webhook or OAuth portal URL): the webhook's
path holds its secret and never appears in an address shown to anyone.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DETAILS = {"deal": "deal", "company": "company", "contact": "contact"}


def portal_origin(webhook_url: str | None, oauth_portal_url: str | None = None) -> str | None:
    """``scheme://host[:port]`` of the portal (the OAuth portal URL wins when set), or None."""
    url = oauth_portal_url or webhook_url
    if not url:
        return None
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def entity_url(origin: str | None, b24_type: str, b24_id: int, iblock_id: int | None = None) -> str | None:
    """The card of a deal, company, contact, or a catalog product (needs the catalog's iblock id); None for
    objects without a page of their own (requisites, bank details) or when the origin is unknown."""
    if origin is None:
        return None
    if b24_type in _DETAILS:
        return f"{origin}/crm/{_DETAILS[b24_type]}/details/{b24_id}/"
    if b24_type == "product" and iblock_id:
        return f"{origin}/crm/catalog/{iblock_id}/product/{b24_id}/"
    return None
