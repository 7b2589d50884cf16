"""metadata.md as data: the objects a 1C programmer adds, read from the tables of that document.

The document is written for people; these helpers only rely on its headings ("## 7. Подписки на
события", "## 3. Регистр сведений `Б24Мост_ЖурналОтправки`") and its Markdown tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from tests.bsl import source


@dataclass
class Section:
    title: str
    tables: list[list[list[str]]] = field(default_factory=list)  # table → rows → cells (header excluded)
    text: str = ""


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


@cache
def sections() -> list[Section]:
    found: list[Section] = []
    current = Section("")
    table: list[list[str]] | None = None
    header_seen = False
    for line in source.METADATA.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            current = Section(line.lstrip("#").strip())
            found.append(current)
            table = None
            continue
        current.text += line + "\n"
        if line.startswith("|"):
            if table is None:
                table, header_seen = [], False
                current.tables.append(table)
                continue  # header row
            if not header_seen and set(line.replace("|", "").strip()) <= {"-", ":", " "}:
                header_seen = True
                continue
            table.append(_cells(line))
        else:
            table = None
    return found


def section(title_start: str) -> Section:
    matches = [s for s in sections() if s.title.startswith(title_start)]
    assert len(matches) == 1, f"в metadata.md нет раздела «{title_start}…»"
    return matches[0]


def unquote(cell: str) -> str:
    return cell.strip().strip("`").strip()


def backticked(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


@dataclass(frozen=True)
class Subscription:
    name: str
    sources: tuple[str, ...]
    event: str
    module: str
    procedure: str


def subscriptions() -> list[Subscription]:
    rows = section("7. Подписки на события").tables[0]
    found = []
    for name, sources_cell, event, handler in rows:
        module, procedure = unquote(handler).split(".")
        sources = tuple(s.strip() for s in sources_cell.split(","))
        found.append(Subscription(unquote(name), sources, event.split()[0], module, procedure))
    return found


@dataclass(frozen=True)
class Job:
    name: str
    module: str
    procedure: str


def jobs() -> list[Job]:
    rows = section("8. Регламентные задания").tables[0]
    return [Job(unquote(r[0]), *unquote(r[1]).split(".")) for r in rows]


def common_modules() -> dict[str, str]:
    """Module name → file path relative to onec_outbox/bsl."""
    rows = section("6. Общие модули").tables[0]
    return {unquote(r[0]): unquote(r[1]) for r in rows}


def registers() -> dict[str, dict[str, str]]:
    """Register name → {field name → kind (Измерение / Ресурс / Реквизит)}."""
    found = {}
    for sec in sections():
        match = re.match(r"\d+\. Регистр сведений `(\w+)`", sec.title)
        if match:
            found[match.group(1)] = {unquote(r[1]): r[0] for r in sec.tables[-1]}
    return found


def enum_values() -> dict[str, set[str]]:
    found = {}
    for sec in sections():
        match = re.match(r"\d+\. Перечисление `(\w+)`", sec.title)
        if match:
            found[match.group(1)] = {unquote(r[0]) for r in sec.tables[0]}
    return found


def processor_attributes() -> set[str]:
    return {unquote(r[0]) for r in section("10.1. Реквизиты обработки").tables[0]}


def processor_table_columns() -> set[str]:
    return {unquote(r[0]) for r in section("10.2. Табличная часть").tables[0]}


def form_elements() -> set[str]:
    sec = section("10.3. Форма")
    names = set()
    for table in sec.tables:
        for row in table:
            names.update(n for n in backticked(row[0]))
    return names


def form_handlers() -> dict[str, str]:
    """Handler procedure → the event it handles (Действие, ПриИзменении, Выбор, ПриОткрытии)."""
    sec = section("10.3. Форма")
    handlers = {}
    for table in sec.tables:
        for row in table:
            for event, procedure in re.findall(r"(Действие|ПриИзменении|Выбор): `(\w+)`", row[-1]):
                handlers[procedure] = event
    for procedure in re.findall(r"Событие формы `(\w+)`", sec.text):
        handlers[procedure] = "ПриОткрытии"
    return handlers


def declared_names() -> set[str]:
    """Every ``Б24Мост_…`` name the document mentions (objects, modules, roles, subscriptions, jobs)."""
    return set(re.findall(rf"{source.PREFIX}\w+", source.METADATA.read_text(encoding="utf-8")))


PROCESSOR = "Б24Мост_МониторОчереди"
PROCESSOR_TABLE = "Журнал"


def exchange_plans() -> dict[str, list[str]]:
    """Exchange plan name → its composition (full names of the objects), from the «План обмена» section."""
    found = {}
    for sec in sections():
        match = re.match(r"\d+\. План обмена `(\w+)`", sec.title)
        if match:
            found[match.group(1)] = [unquote(r[0]) for r in sec.tables[0]]
    return found
