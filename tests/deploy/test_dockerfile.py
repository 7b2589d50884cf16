"""The Dockerfile (no Docker engine here, so it is read, not built): what it copies, how it runs, what it
must never contain."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
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


def global_args() -> dict[str, str]:
    """ARG defaults declared before the first FROM (the only ones a FROM line can use)."""
    args = {}
    for op, value in instructions():
        if op == "FROM":
            break
        if op == "ARG" and "=" in value:
            name, default = value.split("=", 1)
            args[name] = default
    return args


def test_every_base_image_is_python_3_11_slim_bookworm_pinned_by_digest():
    args = global_args()
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", args["PYTHON_IMAGE"]), args
    stages = set()
    for op, value in instructions():
        if op != "FROM":
            continue
        image, _, alias = value.partition(" AS ")
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image.strip())
        if resolved not in stages:  # a stage built on an earlier stage inherits its pin
            assert re.search(r"@sha256:[0-9a-f]{64}$", resolved), f"FROM {image} is not pinned by digest"
        if alias:
            stages.add(alias.strip())


def pip_installs(steps) -> list[list[str]]:
    """Each `pip install` in the RUN steps, as its argument list."""
    found = []
    for op, args in steps:
        if op == "RUN":
            for command in re.split(r"&&|;", args):
                words = shlex.split(command)
                if "pip" in " ".join(words[:1]) and words[1:2] == ["install"]:
                    found.append(words[2:])
    return found


def test_dependencies_are_installed_only_from_the_lock_with_hashes_and_the_project_without_resolving():
    steps = instructions()
    installs = pip_installs(steps)
    assert installs == [["--require-hashes", "-r", "requirements.lock"],
                        ["--no-deps", "--no-build-isolation", "."]]
    copies = [args.split() for op, args in steps if op == "COPY"]
    assert ["requirements.lock", "./"] in copies  # the lock, not requirements-dev.lock or pyproject's ranges
    assert any(op == "RUN" and "pip check" in args for op, args in steps)  # the lock was complete
    assert not any(op == "RUN" and re.search(r"\b(uv|poetry|pipenv|easy_install)\b", args) for op, args in steps)


def test_the_image_carries_oci_labels_for_source_version_and_revision_from_build_args():
    steps = final_stage()
    args = {}
    for op, value in steps:
        if op == "ARG":
            name, _, default = value.partition("=")
            args[name] = default.strip('"')
    labels = {}
    for op, value in steps:
        if op == "LABEL":
            labels.update(dict(part.split("=", 1) for part in shlex.split(value)))
    for key, arg in (("source", "SOURCE"), ("version", "VERSION"), ("revision", "REVISION")):
        assert labels[f"org.opencontainers.image.{key}"] == f"${{{arg}}}", key
        assert arg in args, f"ARG {arg} must be declared in the final stage for LABEL to see it"
    import bridge

    assert args["VERSION"] == bridge.__version__  # an unlabelled build still names the right version
    assert labels["org.opencontainers.image.licenses"] == "MIT"


SANDBOX = "b24_sandbox"


def packaged() -> set[str]:
    """The top-level packages pyproject.toml's packages.find includes."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}


def copied_into_the_build() -> set[str]:
    copied = set()
    for op, args in instructions():
        if op == "COPY" and not args.startswith("--from"):
            copied |= set(args.split()[:-1])
    return copied


def dockerignored() -> set[str]:
    return {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")}


def test_everything_pip_install_needs_is_copied_into_the_build():
    needed = (packaged() - {SANDBOX}) | {"pyproject.toml", "README.md", "requirements.lock"}
    assert needed <= copied_into_the_build(), f"not copied: {needed - copied_into_the_build()}"


def test_the_image_does_not_ship_the_bitrix24_sandbox():
    """The sandbox is in the wheel's package list (dev and demo installs get it); the image leaves its
    directory out of the build context, so `pip install .` there cannot find it, and the build checks that."""
    assert SANDBOX in packaged() and (ROOT / SANDBOX / "__init__.py").exists()
    assert not any(Path(source).parts[0] == SANDBOX for source in copied_into_the_build())
    assert SANDBOX in dockerignored()
    assert not any(op in ("ADD", "COPY") and args.split()[0] == "." for op, args in instructions()), \
        "copying the whole context would bring the sandbox back if .dockerignore ever lost it"
    install = next(args for op, args in instructions() if op == "RUN" and "pip install --no-deps --no-build-isolation ." in args)
    assert f'! /opt/bridge/bin/python -c "import {SANDBOX}"' in install


def test_the_image_needs_no_migrations_directory_beside_the_package():
    steps = instructions()
    assert not any(op == "COPY" and "migrations" in args for op, args in steps)
    assert not any("BRIDGE_MIGRATIONS_DIR" in args for op, args in steps if op in ("ENV", "ARG"))


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
    ignored = dockerignored()
    assert {".git", ".venv", ".env", "tests", "**/__pycache__"} <= ignored
    for needed in ("bridge", "onec_outbox", "requirements.lock", "pyproject.toml", "README.md"):
        assert needed not in ignored and (ROOT / needed).exists()
    assert not any(Path(p).name in ("bridge", "migrations") or p.endswith(".lock") for p in ignored)
