"""The portal side of ``portal setup``/``check``: read what the mapping refers to, make setup's writes.

Reads go out together, so the client packs them into one or two ``batch`` requests.  A section the
webhook may not read (no scope, no access, a method the portal lacks) is recorded in
``PortalState.unreadable`` and reported as a problem of its mapping key; any other error (network, auth of
the webhook itself) propagates: nothing can be checked then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from ..b24 import B24Client
from ..errors import B24AccessDenied, B24Error, B24MethodNotFound, BridgeError
from ..mapping import Mapping
from . import state as st
from .plan import Action

log = logging.getLogger(__name__)

# errors that make one section unreadable without making the whole portal unreachable
SECTION_ERRORS = (B24AccessDenied, B24MethodNotFound)
SCOPE_CODES = {"insufficient_scope", "ACCESS_DENIED"}


@dataclass(frozen=True)
class Outcome:
    action: Action
    error: str | None = None  # None: done

    @property
    def done(self) -> bool:
        return self.error is None


async def read(client: B24Client, mapping: Mapping) -> st.PortalState:
    """What the portal holds for ``mapping`` (its funnels' stages, the users it names, …)."""
    funnel_id = mapping.deals.category_id
    user_ids = sorted({mapping.default_responsible_id, *mapping.users.by_onec_id.values()})
    readers: dict[str, Awaitable[Any]] = {
        "funnels": _rows(client, "crm.category.list", {"entityTypeId": 2}, st.funnel_from, id_key="id"),
        "stages": _stages(client, funnel_id),
        "funnel_stages": _funnel_stages(client, [f for f in mapping.deals.category_ids() if f != funnel_id]),
        "user_fields": _rows(client, "crm.deal.userfield.list", {"filter": {"LANG": "ru"}}, st.user_field_from),
        "presets": _rows(client, "crm.requisite.preset.list", {}, st.preset_from),
        "company_types": _rows(client, "crm.status.list", {"filter": {"ENTITY_ID": "COMPANY_TYPE"}},
                               st.company_type_from),
        "users": _users(client, user_ids),
    }
    if mapping.products.api == "catalog":
        readers["catalogs"] = _rows(client, "catalog.catalog.list", {}, st.catalog_from, id_key="id")
        readers["price_types"] = _rows(client, "catalog.priceType.list", {}, st.price_type_from, id_key="id")
    results = await asyncio.gather(*(_guard(r) for r in readers.values()))
    values: dict[str, Any] = {}
    unreadable: dict[str, str] = {}
    for section, (value, reason) in zip(readers, results):
        values[section] = value
        if reason is not None:
            unreadable[section] = reason
    return st.PortalState(stages_funnel=funnel_id, unreadable=unreadable, **values)


async def apply(client: B24Client, actions: Sequence[Action]) -> list[Outcome]:
    """Make the actions' calls (together: one batch); an action the portal refuses is reported, not raised."""
    replies = await asyncio.gather(*(client.call(a.method, a.params()) for a in actions), return_exceptions=True)
    outcomes = []
    for action, reply in zip(actions, replies):
        if isinstance(reply, BaseException) and not isinstance(reply, BridgeError):
            raise reply
        outcome = Outcome(action, str(reply) if isinstance(reply, BaseException) else None)
        log.info("portal setup: %s", action.describe(),
                 extra={"action": "portal.setup", "key": action.key, "method": action.method,
                        "ok": outcome.done, "error": outcome.error})
        outcomes.append(outcome)
    return outcomes


async def _guard(reader: Awaitable[Any]) -> tuple[Any, str | None]:
    try:
        return await reader, None
    except SECTION_ERRORS as exc:
        return None, _reason(exc)
    except B24Error as exc:
        if exc.code in SCOPE_CODES:
            return None, _reason(exc)
        raise


def _reason(exc: B24Error) -> str:
    code = exc.code if exc.code != "" else '""'
    return f"{code}: {exc.description}" if exc.description else code


async def _rows(client: B24Client, method: str, params: dict[str, Any], parse, *, id_key: str = "ID") -> tuple:
    return tuple(parse(row) for row in await client.list_all(method, params, id_key=id_key))


async def _stages(client: B24Client, funnel_id: int) -> tuple[st.StageRow, ...]:
    rows = await _rows(client, "crm.status.list", {"filter": {"ENTITY_ID": st.stage_entity(funnel_id)}},
                       st.stage_from)
    return tuple(sorted(rows, key=lambda s: (s.sort, s.status_id)))


async def _funnel_stages(client: B24Client, funnel_ids: Sequence[int]) -> dict[int, tuple[st.StageRow, ...]]:
    found = await asyncio.gather(*(_stages(client, f) for f in funnel_ids))
    return dict(zip(funnel_ids, found))


async def _users(client: B24Client, user_ids: Sequence[int]) -> dict[int, st.User]:
    replies = await asyncio.gather(*(client.call("user.get", {"filter": {"ID": uid}}) for uid in user_ids))
    users = {}
    for uid, reply in zip(user_ids, replies):
        rows = reply if isinstance(reply, list) else []
        found = [st.user_from(r) for r in rows if isinstance(r, dict) and str(r.get("ID")) == str(uid)]
        if found:
            users[uid] = found[0]
    return users
