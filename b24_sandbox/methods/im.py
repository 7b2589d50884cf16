"""im.notify.system.add / im.notify.personal.add: notifications to portal users.

A new notification with the same TAG (for the same user) replaces the earlier ones, as on a real portal.
"""

from __future__ import annotations

from typing import Any

from .. import values
from ..errors import ApiError
from . import Call, method

TABLE = "notifications"


def _add(call: Call, kind: str) -> int:
    user_id = values.intval(call.param("USER_ID", "user_id", default=0))
    if user_id <= 0:
        raise ApiError("USER_ID_EMPTY", "User ID can't be empty", 400)
    message = values.text(call.param("MESSAGE", "message", default="")).strip()
    if not message:
        raise ApiError("MESSAGE_EMPTY", "Message can't be empty", 400)
    attach = call.param("ATTACH", "attach")
    if attach is not None and len(values.text(attach) if not isinstance(attach, (dict, list)) else str(attach)) > 60000:
        raise ApiError("ATTACH_OVERSIZE", "You have exceeded the maximum allowable size of attachments", 400)
    tag = values.text(call.param("TAG", "tag", default="")).strip() or None
    if tag:
        for old in [n for n in call.store.where(TABLE, "TAG", tag) if n["USER_ID"] == user_id]:
            call.store.delete(TABLE, old["ID"])
    record: dict[str, Any] = {"USER_ID": user_id, "TYPE": kind, "FROM_USER_ID": call.user_id if kind == "personal" else None,
                              "MESSAGE": message, "MESSAGE_OUT": values.text(call.param("MESSAGE_OUT", default="")) or None,
                              "TAG": tag, "SUB_TAG": values.text(call.param("SUB_TAG", default="")) or None,
                              "ATTACH": attach, "DATE": call.now()}
    return call.store.insert(TABLE, record, counter="im_message")


@method("im.notify.system.add")
def system_add(call: Call) -> int:
    return _add(call, "system")


@method("im.notify.personal.add")
def personal_add(call: Call) -> int:
    return _add(call, "personal")
