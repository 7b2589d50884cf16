"""Find or create a Bitrix24 record by its 1C key: link → look-up by external key → create, written once.

This is what makes a redelivered event harmless: a crash after a Bitrix24 ``add`` and before the commit
leaves no link, and the next attempt finds the record by the key it was created with instead of making
a second one.  A linked record deleted by hand in Bitrix24 is found or made again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum

from ..errors import B24Error, B24NotFound

log = logging.getLogger(__name__)


class How(str, Enum):
    LINKED = "linked"  # the link's record, brought up to date
    FOUND = "found"  # found by its 1C key (a crashed attempt made it, or someone before the bridge)
    CREATED = "created"  # made by this call: it holds nothing yet


@dataclass(frozen=True)
class Keyed:
    id: int
    how: How
    relinked: bool = False  # there was a link, but its record is gone from Bitrix24

    @property
    def created(self) -> bool:
        return self.how is How.CREATED


async def _not_found(exc: B24Error, b24_id: int) -> bool:
    return isinstance(exc, B24NotFound)


async def find_or_create(*, b24_type: str, entity_id: str, linked: int | None,
                         refresh: Callable[[int], Awaitable[None]],
                         find: Callable[[], Awaitable[int | None]],
                         update: Callable[[int], Awaitable[None]],
                         create: Callable[[], Awaitable[int]],
                         gone: Callable[[B24Error, int], Awaitable[bool]] = _not_found) -> Keyed:
    """The record's id: ``refresh(linked)`` when there is a link (unless ``gone`` says the failure means the
    record was deleted), else ``find()`` by the 1C key and ``update`` what was found, else ``create()``."""
    relinked = False
    if linked is not None:
        try:
            await refresh(linked)
            return Keyed(linked, How.LINKED)
        except B24Error as exc:
            if not await gone(exc, linked):
                raise
            relinked = True
            log.warning("linked Bitrix24 object is gone; recreating", extra={
                "action": "sync.relink", "b24_type": b24_type, "b24_id": linked, "entity_id": entity_id})
    found = await find()
    if found is not None:
        await update(found)
        return Keyed(found, How.FOUND, relinked)
    return Keyed(await create(), How.CREATED, relinked)
