"""The checks a snapshot handler runs before touching Bitrix24, in this order, written once.

1. the inbox has the event → ``DUPLICATE`` (nothing recorded: it was recorded the first time);
2. a link already holds this version or a newer one → ``STALE`` (recorded in the inbox) — except a link
   in doubt holding exactly this version: what Bitrix24 shows is unknown, so the snapshot is pushed whole
   again (how ``b24bridge reconcile --repair`` re-pushes an object, see ``bridge.reconcile``);
3. the desired state hashes like the state pushed last → ``UNCHANGED`` (the link takes the new version).

The counterparty and product handlers use them; the deal handler has its own guard (the order projection's
version check), because a deal is a function of many documents, not one snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from onec_outbox.contract import Event

from ..consumer import Outcome
from ..links import Link, UnitOfWork, state_hash


async def seen_or_stale(uow: UnitOfWork, event: Event, onec_type: str, entity_id: str,
                        owners: Iterable[str]) -> Outcome | Mapping[str, Link]:
    """``DUPLICATE``/``STALE``, or the object's links (by Bitrix24 type) when the event is new; the newest
    version among the ``owners`` links counts (a counterparty may have been a company or a contact)."""
    links = await uow.seen_or_links(event.event_id, onec_type, entity_id)
    if links is None:
        return Outcome.DUPLICATE
    held = [links[kind] for kind in owners if kind in links]
    newest = max((link.version for link in held), default=None)
    again = any(link.in_doubt and link.version == event.version for link in held)
    if newest is not None and (newest > event.version or (newest == event.version and not again)):
        await uow.mark_processed(event.event_id)
        return Outcome.STALE
    return links


async def unchanged(uow: UnitOfWork, event: Event, onec_type: str, entity_id: str, link: Link | None,
                    state: Any) -> bool:
    """True (and recorded) when nothing Bitrix24 shows would change: the link takes the event's version.
    Never after a push that died half-way (the link is in doubt): what Bitrix24 holds is unknown."""
    if link is None or link.confirmed_hash != state_hash(state):  # (None: nothing confirmed to compare)
        return False
    await uow.save_link(onec_type, entity_id, link.b24_type, link.b24_id, version=event.version, pushed_state=state)
    await uow.mark_processed(event.event_id)
    return True
