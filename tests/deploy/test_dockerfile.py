"""The Dockerfile (no Docker engine here, so it is read, not built): what it copies, how it runs, what it
must never contain."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import yaml

from tests.deploy.support import CHART, ROOT

SECRET_WORDS = re.compile(r"(PASSWORD|TOKEN|SECRET|WEBHOOK|DATABASE_URL|AMQP_URL|API_KEY)", re.IGNORECASE)


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        current += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(current)
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


def env_of(steps) -> dict[str, str]:
    env = {}
    for op, args in steps:
        if op == "ENV":
            env.update(dict(part.split("=", 1) for part in shlex.split(args)))
    return env


def test_the_image_builds_from_python_3_11_slim_and_installs_the_project_with_pip():
    steps = instructions()
    assert ("ARG", "PYTHON_IMAGE=python:3.11-slim") in steps
    assert [args.split()[0] for op, args in steps if op == "FROM"] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]
    assert any(op == "RUN" and "pip install ." in args for op, args in steps)


def test_everything_pip_install_needs_is_copied_into_the_build():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    packages = re.search(r'include = \[(.*?)\]', pyproject).group(1)
    needed = {p.strip().strip('"').rstrip("*") for p in packages.split(",")} | {"pyproject.toml", "README.md"}
    copied = set()
    for op, args in instructions():
        if op == "COPY" and not args.startswith("--from"):
            copied |= set(args.split()[:-1])
    assert needed <= copied, f"not copied: {needed - copied}"


def test_migrations_are_copied_where_BRIDGE_MIGRATIONS_DIR_points_and_the_bridge_looks_there(monkeypatch):
    from bridge import schema

    steps = final_stage()
    target = next(args.split()[-1] for op, args in steps if op == "COPY" and args.split()[0] == "migrations")
    assert env_of(steps)["BRIDGE_MIGRATIONS_DIR"] == target
    monkeypatch.setenv("BRIDGE_MIGRATIONS_DIR", str(ROOT / "migrations"))
    assert schema.migrations_dir() == ROOT / "migrations"


def test_the_image_runs_b24bridge_as_the_non_root_user_the_chart_expects():
    steps = final_stage()
    users = [args for op, args in steps if op == "USER"]
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0, "USER must be a numeric non-root uid for runAsNonRoot"
    chart = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))["podSecurityContext"]
    assert (int(uid), int(gid)) == (chart["runAsUser"], chart["runAsGroup"])
    entrypoint = next(args for op, args in steps if op == "ENTRYPOINT")
    assert json.loads(entrypoint) == ["b24bridge"]
    assert "/opt/bridge/bin" in env_of(steps)["PATH"]


def test_no_secret_is_baked_into_the_image():
    for op, args in instructions():
        if op in ("ENV", "ARG"):
            for part in shlex.split(args):
                assert not SECRET_WORDS.search(part.split("=", 1)[0]), f"{op} {part} looks like a secret"
        if op in ("COPY", "ADD"):
            assert not re.search(r"\.env\b|\.pem\b|\.key\b", args), f"{op} {args}"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build_context():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", ".env", "tests", "**/__pycache__"} <= ignored
    for needed in ("bridge", "onec_outbox", "migrations", "pyproject.toml", "README.md"):
        assert needed not in ignored and (ROOT / needed).exists()
    assert not any(Path(p).name in ("bridge", "migrations") for p in ignored)
