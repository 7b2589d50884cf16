"""The notice watcher: tells the portal's administrators in Bitrix24 when the exchange is stuck, and when
it is well again (the decisions are :mod:`bridge.incidents`; this is its I/O shell).

It runs in every consumer process (``b24bridge consume``, ``b24bridge run``), beside the dead-letter
sink: that is where the Bitrix24 client, the mapping and the consumers' pauses already are, and some
consumer always runs where there is anything to tell.  Every round it reads the open dead letters and
the 1C heartbeats from PostgreSQL (seen in full by every watcher) and its own consumers' pauses (seen only
here), plans, and carries out each step after claiming it in ``notice_incidents``, so several processes
and restarts still send one notice per incident.  A notice that cannot be sent (the portal is down: the
very reason a consumer pauses) is tried again next round; if the trouble ends first, nobody is told.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from . import heartbeat, incidents
from .dlq import DeadLetterTable
from .errors import B24Error
from .mapping import Notify
from .sql import Q
from .working_hours import WorkingHours

log = logging.getLogger(__name__)

CLIENT_ID = "b24bridge"  # Bitrix24 wants one with TAG when the call comes through a webhook


class Watcher:
    def __init__(self, pool: asyncpg.Pool, b24: Any, notify: Notify, hours: WorkingHours,
                 paused_since: Callable[[], dict[str, datetime | None]] = dict,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._pool = pool
        self._b24 = b24
        self._notify = notify
        self._hours = hours
        self._paused_since = paused_since
        self._clock = clock
        self._texts = incidents.Texts(notify.console_url, hours.zone)

    @classmethod
    def for_consumers(cls, pool: asyncpg.Pool, b24: Any, mapping: Any, settings: Any, consumers: list) -> Watcher:
        """The watcher of a consumer process: its consumers' pauses, everyone's dead letters and 1C."""
        return cls(pool, b24, mapping.notify, WorkingHours.parse(settings.working_hours),
                   lambda: {c.handler.name: c.paused_since for c in consumers})

    async def run(self, stop: asyncio.Event) -> None:
        if not self._notify.admins:
            log.info("no notices: notify.admins is empty", extra={"action": "notices.off"})
            return
        while not stop.is_set():
            try:
                await self.round()
            except Exception as exc:  # noqa: BLE001 - a notice problem must never stop the consumers
                log.warning("notice round failed", extra={"action": "notices.error",
                                                          "error": f"{type(exc).__name__}: {exc}"})
            try:
                await asyncio.wait_for(stop.wait(), self._notify.check_seconds)
            except TimeoutError:
                pass

    async def round(self) -> list[incidents.Step]:
        """Look once, plan, and carry out the plan; returns the steps (for tests and logs)."""
        now = self._clock()
        stored = [incidents.Incident(r["kind"], r["subject"], r["opened_at"], r["notified_at"] is not None,
                                     r["cleared_at"]) for r in await self._pool.fetch(Q.incident_select)]
        silent_open = {i.subject for i in stored if i.kind == incidents.SILENT and i.cleared_at is None}
        counts = await DeadLetterTable(self._pool).counts()
        heard = {s.source: s.received_at for s in await heartbeat.latest(self._pool)}
        observed = [
            *incidents.dead_letter_observations(counts),
            *incidents.pause_observations(self._paused_since(), now,
                                          timedelta(minutes=self._notify.pause_minutes)),
            *incidents.silence_observations(heard, now, timedelta(minutes=self._notify.silence_minutes),
                                            self._hours.open_at(now), silent_open),
        ]
        steps = incidents.plan(observed, (incidents.DEAD_LETTERS, incidents.SILENT), stored, self._texts, now)
        for step in steps:
            await self._carry_out(step)
        return steps

    async def _carry_out(self, step: incidents.Step) -> None:
        key = (step.kind, step.subject)
        if step.action == "open":
            opened = await self._pool.fetchval(Q.incident_open, *key, step.detail)  # only the first watcher
            if opened and await self._pool.fetchval(Q.incident_claim_notice, *key) and not await self._send(step):
                await self._pool.execute(Q.incident_unclaim_notice, *key)
        elif step.action == "notify":
            if await self._pool.fetchval(Q.incident_claim_notice, *key) and not await self._send(step):
                await self._pool.execute(Q.incident_unclaim_notice, *key)
        elif step.action == "clear":
            if await self._pool.fetchval(Q.incident_clear, *key) and await self._send(step):
                await self._pool.execute(Q.incident_forget, *key)
        elif step.action == "recover":
            if await self._send(step):
                await self._pool.execute(Q.incident_forget, *key)
        elif step.action == "reopen":
            await self._pool.execute(Q.incident_reopen, *key)
        elif step.action == "drop":
            await self._pool.execute(Q.incident_forget, *key)

    async def _send(self, step: incidents.Step) -> bool:
        """One notice to every administrator; False when the portal refused or could not be reached."""
        try:
            for user_id in self._notify.admins:
                await self._b24.call("im.notify.system.add", {
                    "USER_ID": user_id, "MESSAGE": step.message, "TAG": step.tag, "CLIENT_ID": CLIENT_ID})
        except B24Error as exc:
            log.warning("notice not sent; next round tries again", extra={
                "action": "notices.unsent", "kind": step.kind, "subject": step.subject, "error": str(exc)})
            return False
        log.info("notice sent", extra={"action": "notices.sent", "step": step.action, "kind": step.kind,
                                       "subject": step.subject, "users": len(self._notify.admins)})
        return True
