"""1C user (Ответственный) → Bitrix24 user: the mapping file by 1C id, then the e-mail via user.get,
then the default user.  Each unmapped 1C user is counted and logged once per process.  An e-mail nobody
on the portal has is asked again after ten minutes: a manager may be added to Bitrix24 meanwhile."""

from __future__ import annotations

import logging
import time

from .. import metrics
from ..b24 import B24
from ..domain.deal import Responsible
from ..mapping import Mapping

log = logging.getLogger(__name__)

NOT_FOUND_TTL = 600.0  # seconds before an e-mail no Bitrix24 user had is looked up again


class Responsibles:
    def __init__(self, b24: B24, mapping: Mapping) -> None:
        self._b24 = b24
        self._mapping = mapping
        self._by_email: dict[str, tuple[int | None, float]] = {}  # e-mail → (user id or None, when asked)
        self._reported: set[str] = set()

    async def resolve(self, responsible: Responsible | None) -> int:
        default = self._mapping.default_responsible_id
        if not responsible:
            return default
        onec_id = responsible.id
        mapped = self._mapping.users.by_onec_id.get(onec_id)
        if mapped:
            return mapped
        email = (responsible.email or "").strip().lower()
        if email and self._mapping.users.match_email:
            known = self._by_email.get(email)
            if known is None or (known[0] is None and time.monotonic() - known[1] > NOT_FOUND_TTL):
                found = await self._b24.call("user.get", {"FILTER": {"EMAIL": email, "ACTIVE": True}})
                known = self._by_email[email] = (int(found[0]["ID"]) if found else None, time.monotonic())
            if known[0]:
                return known[0]
        if onec_id not in self._reported:
            self._reported.add(onec_id)
            metrics.UNMAPPED_USERS.inc()
            log.warning("1C user has no Bitrix24 user; deals go to the default responsible", extra={
                "action": "deal.unmapped_user", "onec_user_id": onec_id, "onec_user": responsible.name,
                "default_responsible_id": default})
        return default
