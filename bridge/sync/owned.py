"""Write the fields 1C owns to a record that exists, and tell when that puts a manager's edit back.

The old value costs no extra request: the record's owned fields are read in the same ``batch`` as the
update, as its first command (a batch runs its commands in order, so the read sees the record before the
update).  No read at all when the last push is unknown (nothing to tell a manual edit from) or when the
caller has just read the record anyway (``current``).  Each overwritten edit is one JSON log line
(``action: sync.owned_overwrite`` with entity, id, field, the value Bitrix24 held and 1C's) and one count
of ``bridge_consumer_owned_field_overwrites_total{entity, field}``.  docs/ownership.md.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from .. import metrics
from ..b24 import B24
from ..b24.envelope import items_of
from ..domain.diff import overwritten

log = logging.getLogger(__name__)


def _known(pushed: Mapping[str, Any] | None) -> bool:
    return bool(pushed) and any(v is not None for v in pushed.values())


async def update(b24: B24, *, entity: str, b24_id: int, entity_id: str, fields: dict[str, Any],
                 pushed: dict[str, Any] | None, method: str, params: dict[str, Any] | None = None,
                 read: tuple[str, dict[str, Any]] | None = None, current: dict[str, Any] | None = None,
                 then: Sequence[tuple[str, dict[str, Any]]] = ()) -> dict[str, Any] | None:
    """``method`` (an ``*.update``) with ``fields``; ``read``: the list call that shows the record's
    ``fields`` as Bitrix24 holds them (a list of one row), sent in the same request before the update;
    ``then``: calls that follow the update in that request, none of them after a refused one.  Returns the
    row read (None: none was)."""
    call = (method, {"id": b24_id, "fields": fields, **(params or {})})
    if current is None and read is not None and _known(pushed):
        result = (await b24.call_chain([read, call, *then], halt=bool(then)))[0]
        rows = items_of(result, read[0])
        current = rows[0] if rows else {}
    elif then:
        await b24.call_chain([call, *then], halt=True)
    else:
        await b24.call(*call)
    plain = {k: v for k, v in fields.items() if not (isinstance(v, list) and v and isinstance(v[0], dict))}
    report(entity, b24_id, entity_id, overwritten(current or {}, pushed, plain))  # phones: item ops, not values
    return current


def report(entity: str, b24_id: int, entity_id: str, edits: Mapping[str, tuple[Any, Any]]) -> None:
    for name, (old, new) in sorted(edits.items()):
        metrics.OWNED_OVERWRITES.labels(entity, name).inc()
        log.warning("a manual edit of a field 1C owns was put back to 1C's value", extra={
            "action": "sync.owned_overwrite", "entity": entity, "b24_id": b24_id, "entity_id": entity_id,
            "field": name, "old_value": old, "new_value": new})
