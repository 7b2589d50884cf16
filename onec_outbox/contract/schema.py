"""JSON Schema of contract v1 for 1C developers, generated from the pydantic models (the source of truth).

    python -m onec_outbox.contract.schema            # rewrite onec_outbox/schema/*.schema.json
    python -m onec_outbox.contract.schema --check    # exit 1 if the committed files are stale

Writes ``event.schema.json`` (the envelope with every payload, chosen by ``event_type``), one file per
payload (``counterparty.schema.json`` …) and ``heartbeat.schema.json`` (``POST /v1/heartbeat``).  Output is deterministic: sorted keys, two-space indent, UTF-8
without escapes, a final newline, so a regenerated file differs only when the contract changed.

The schema says what the models say, except what JSON Schema cannot express: control digits of ИНН,
accounts and the rest, and rules across fields (ИНН length by legal form, КПП required…).  Those are in
the descriptions and in docs/contract.md, and the ingest's answer names them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from onec_outbox.contract.events import ENTITIES, PAYLOADS, event_json_schema
from onec_outbox.contract.heartbeat import heartbeat_json_schema

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
COMMAND = "python -m onec_outbox.contract.schema"

_EVENT_DESCRIPTION = (
    "Событие контракта v1: 1С → мост (POST /v1/events). Тело запроса — одно такое событие или массив до "
    "1000 событий. Деньги и количества — строки; даты ГГГГ-ММ-ДД; дата-время ISO-8601 со смещением; "
    "неизвестные поля допускаются и сохраняются. / One contract v1 event sent by 1C to the bridge."
)


_HEARTBEAT_DESCRIPTION = (
    "Пульс отправителя 1С: после каждого запуска регламентного задания, даже если отправлять нечего "
    "(POST /v1/heartbeat). / The 1C sender's heartbeat, posted after every run."
)


def _text(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def render() -> dict[str, str]:
    """File name → file text for every published schema."""
    event = event_json_schema()
    event.update({"$schema": DIALECT, "title": "Event (contract v1)", "description": _EVENT_DESCRIPTION})
    files = {"event.schema.json": _text(event)}
    for entity in ENTITIES:
        payload = PAYLOADS[entity].model_json_schema()
        payload["$schema"] = DIALECT
        payload["title"] = f"{entity}.upserted payload (contract v1)"
        files[f"{entity}.schema.json"] = _text(payload)
    heartbeat = heartbeat_json_schema()
    heartbeat.update({"$schema": DIALECT, "title": "Heartbeat (POST /v1/heartbeat)",
                      "description": _HEARTBEAT_DESCRIPTION})
    files["heartbeat.schema.json"] = _text(heartbeat)
    return files


def stale(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing or differ from what the models generate now."""
    return [
        name
        for name, text in render().items()
        if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != text
    ]


def write(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Write the JSON Schema of event contract v1.")
    parser.add_argument("--out", type=Path, default=SCHEMA_DIR, help=f"directory (default {SCHEMA_DIR})")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.out)
        for name in names:
            print(f"stale: {args.out / name}")
        if names:
            print(f"run: {COMMAND}")
        return 1 if names else 0
    for path in write(args.out):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
