"""When to tell the people in Bitrix24, and what: incidents opened and cleared from observations (pure).

Three kinds of trouble are watched: dead letters waiting in a queue, a consumer that stays paused, a 1C
base that fell silent during working hours.  Each (kind, subject) is at most one open incident; its
opening notice goes once, its recovery notice once when it clears.  Both carry the same TAG, and a
Bitrix24 notification with a known TAG replaces the older one, so the portal shows one notice per
incident: "stuck since 10:02", later replaced by "working again (10:02–11:40)".

:func:`plan` turns what a watcher sees now and the incidents stored in PostgreSQL into steps; the shell
(:mod:`bridge.notices`) claims each step in the table (so several processes send one notice) and calls
``im.notify.system.add``.  A watcher sees some kinds completely (dead letters and heartbeats, read from
PostgreSQL: a subject it no longer sees has cleared) and others only in part (its own consumers' pauses:
another process's consumer is none of its business).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

DEAD_LETTERS, PAUSED, SILENT = "dead_letters", "paused", "silent"
KINDS = (DEAD_LETTERS, PAUSED, SILENT)
TAG_PREFIX = "b24bridge"
TITLE = "Мост 1С ↔ Битрикс24"


@dataclass(frozen=True)
class Observation:
    """One subject as a watcher sees it now; ``since`` is when the trouble began (for the texts)."""

    kind: str
    subject: str
    active: bool
    since: datetime | None = None
    detail: str = ""


@dataclass(frozen=True)
class Incident:
    """An incident as stored (``notice_incidents``)."""

    kind: str
    subject: str
    opened_at: datetime
    notified: bool = False  # the opening notice reached Bitrix24
    cleared_at: datetime | None = None  # cleared; its recovery notice is still to be delivered


@dataclass(frozen=True)
class Step:
    """``open`` (store, then send the opening notice), ``notify`` (retry the opening notice), ``clear``
    (mark cleared, send the recovery notice, then forget), ``recover`` (retry a recovery notice),
    ``reopen`` (trouble back before its recovery notice went: keep the incident), ``drop`` (cleared before
    anyone was told: forget silently)."""

    action: str
    kind: str
    subject: str
    message: str | None = None
    detail: str = ""

    @property
    def tag(self) -> str:
        return tag(self.kind, self.subject)


@dataclass(frozen=True)
class Texts:
    """How notices read: the console link and the zone the times are shown in."""

    console_url: str | None
    zone: tzinfo

    def link(self) -> str:
        return f" [URL={self.console_url}]Консоль моста[/URL]" if self.console_url else ""

    def time(self, moment: datetime | None) -> str:
        return moment.astimezone(self.zone).strftime("%d.%m %H:%M") if moment else "—"


def tag(kind: str, subject: str) -> str:
    return f"{TAG_PREFIX}|{kind}|{subject}"


def plan(observations: Iterable[Observation], complete: Iterable[str], incidents: Iterable[Incident],
         texts: Texts, now: datetime) -> list[Step]:
    """Steps that bring the stored incidents in line with what is seen now.

    ``complete``: kinds this watcher sees in full, so a stored incident of that kind it does not see as
    active has cleared.  Subjects of other kinds are judged only when observed."""
    seen = {(o.kind, o.subject): o for o in observations}
    full = set(complete)
    steps: list[Step] = []
    stored = {(i.kind, i.subject): i for i in incidents}
    for key, o in seen.items():
        if o.active and key not in stored:
            steps.append(Step("open", o.kind, o.subject, opening(o, texts), o.detail))
    for key, incident in stored.items():
        o = seen.get(key)
        if o is None and incident.kind not in full:
            continue  # another process watches it
        active = o is not None and o.active
        if incident.cleared_at is not None:
            steps.append(Step("reopen", *key) if active else
                         Step("recover", *key, recovery(incident, incident.cleared_at, texts)))
        elif active and not incident.notified:
            steps.append(Step("notify", *key, opening(o, texts), o.detail))
        elif not active:
            steps.append(Step("clear", *key, recovery(incident, now, texts)) if incident.notified
                         else Step("drop", *key))
    return steps


def opening(o: Observation, texts: Texts) -> str:
    since = texts.time(o.since)
    if o.kind == DEAD_LETTERS:
        text = (f"в очереди недоставленных {o.subject} есть события ({o.detail}), первое — {since}. Этих "
                "изменений нет в Битрикс24, пока причину не устранят и события не переотправят.")
    elif o.kind == PAUSED:
        text = (f"обработчик {o.subject} стоит на паузе с {since}: Битрикс24 или база моста отвечают "
                "ошибками. События не теряются и ждут в очереди.")
    else:
        text = (f"база 1С {o.subject} молчит с {since} (последний пульс) в рабочее время. Изменения из "
                "1С не поступают: проверьте регламентное задание Б24Мост_ОтправкаСобытий и монитор обмена.")
    return f"[B]{TITLE}[/B]: {text}{texts.link()}"


def recovery(incident: Incident, cleared_at: datetime, texts: Texts) -> str:
    span = f"{texts.time(incident.opened_at)} – {texts.time(cleared_at)}"
    text = {DEAD_LETTERS: f"недоставленные события в {incident.subject} разобраны",
            PAUSED: f"обработчик {incident.subject} снова работает",
            SILENT: f"база 1С {incident.subject} снова на связи"}[incident.kind]
    return f"[B]{TITLE}[/B]: {text} (было: {span}).{texts.link()}"


# --- observations from what the bridge knows ------------------------------------------------------------


def dead_letter_observations(counts: dict[str, dict[str, int]]) -> list[Observation]:
    """Open dead letters per queue and reason → one active observation per queue that has any."""
    found = []
    for queue, reasons in sorted(counts.items()):
        total = sum(reasons.values())
        if total:
            detail = ", ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items()))
            found.append(Observation(DEAD_LETTERS, queue, True, None, f"{total} шт.; {detail}"))
    return found


def pause_observations(paused_since: dict[str, datetime | None], now: datetime,
                       after: timedelta) -> list[Observation]:
    """Consumer → since when it pauses (None: running).  Active once it stayed paused ``after``."""
    return [Observation(PAUSED, name, since is not None and now - since >= after, since)
            for name, since in sorted(paused_since.items())]


def silence_observations(last_heard: dict[str, datetime], now: datetime, after: timedelta, working: bool,
                         open_subjects: set[str]) -> list[Observation]:
    """Source → its last heartbeat.  Silent past ``after`` is an incident during working hours; an
    incident already open stays open at night until the base speaks again."""
    found = []
    for source, heard in sorted(last_heard.items()):
        stale = now - heard > after
        found.append(Observation(SILENT, source, stale and (working or source in open_subjects), heard))
    return found
