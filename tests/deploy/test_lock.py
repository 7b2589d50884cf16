"""The lock files the image (requirements.lock) and CI (requirements-dev.lock, through `./dev venv`) install
from: exact versions with hashes, one resolution for both, complete for pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import os
import re
import stat
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.deploy.support import ROOT

RUNTIME, DEV = ROOT / "requirements.lock", ROOT / "requirements-dev.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
MARKERS = {"python_version": "3.11", "python_full_version": "3.11.16", "sys_platform": "linux",
           "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}


@dataclass(frozen=True)
class Pin:
    version: str
    hashes: frozenset[str]


def parse_lock(path: Path) -> dict[str, Pin]:
    """name → pin; fails on anything but `name==version --hash=sha256:…` entries."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    pins = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][A-Za-z0-9.+!-]*)((?:\s+--hash=sha256:[0-9a-f]{64})+)",
                             line)
        assert match, f"{path.name}: not an exact pin with hashes: {line[:120]}"
        name = canonicalize_name(match[1])
        assert name not in pins, f"{path.name}: {name} pinned twice"
        pins[name] = Pin(match[2], frozenset(re.findall(r"sha256:([0-9a-f]{64})", match[3])))
    return pins


def wanted(requirements: list[str], extras: frozenset[str] = frozenset()) -> list[Requirement]:
    out = []
    for text in requirements:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate(MARKERS | {"extra": e}) for e in extras or {""}):
            out.append(req)
    return out


def runtime_requirements() -> list[Requirement]:
    return wanted(PYPROJECT["project"]["dependencies"] + PYPROJECT["build-system"]["requires"])


def extra_requirements(extra: str) -> list[Requirement]:
    """An extra's requirements, with the project's own extras it names (``onec-b24-bridge[demo]``) expanded."""
    own = canonicalize_name(PYPROJECT["project"]["name"])
    out = []
    for req in wanted(PYPROJECT["project"]["optional-dependencies"][extra]):
        if canonicalize_name(req.name) == own:
            for nested in sorted(req.extras):
                out += extra_requirements(nested)
        else:
            out.append(req)
    return out


def dev_requirements() -> list[Requirement]:
    return runtime_requirements() + extra_requirements("dev")


@pytest.mark.parametrize("path", [RUNTIME, DEV], ids=lambda p: p.name)
def test_every_locked_requirement_is_an_exact_version_with_sha256_hashes_from_the_default_index(path: Path):
    pins = parse_lock(path)  # fails on a range, a URL, an editable or an index option
    assert len(pins) >= 30
    assert "./dev lock" in path.read_text(encoding="utf-8").splitlines()[1]  # how to make it again


@pytest.mark.parametrize(("path", "requirements"), [(RUNTIME, runtime_requirements), (DEV, dev_requirements)],
                         ids=["requirements.lock", "requirements-dev.lock"])
def test_the_lock_satisfies_every_requirement_of_pyproject(path: Path, requirements):
    """A dependency added to pyproject.toml without `./dev lock` fails here, not in the image build."""
    pins = parse_lock(path)
    for req in requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{path.name} lacks {req}: run ./dev lock"
        assert req.specifier.contains(pins[name].version, prereleases=True), \
            f"{path.name} pins {name}=={pins[name].version}, pyproject.toml wants {req}: run ./dev lock"


def test_the_image_runs_exactly_the_versions_and_files_ci_tested():
    runtime, dev = parse_lock(RUNTIME), parse_lock(DEV)
    assert set(runtime) <= set(dev), set(runtime) - set(dev)
    for name, pin in runtime.items():
        assert pin == dev[name], f"{name}: the image's pin differs from CI's"


def test_the_runtime_lock_holds_the_runtime_dependency_closure_and_nothing_else():
    """Walks the installed metadata (the same versions as the lock, see the next test) from pyproject's
    dependencies, with the extras they ask for: the image gets every package it imports and no test tool."""
    runtime = parse_lock(RUNTIME)
    seen: set[str] = set()
    todo = [(req, frozenset(req.extras)) for req in runtime_requirements()]
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        assert name in runtime, f"requirements.lock lacks {name}, which {req} needs"
        for text in importlib.metadata.requires(name) or []:
            for child in wanted([text], extras):
                todo.append((child, frozenset(child.extras)))
    assert {name for name, _ in seen} == set(runtime)


def test_the_venv_holds_the_locked_versions():
    """CI runs the suite in the venv `./dev venv` made from requirements-dev.lock."""
    for name, pin in parse_lock(DEV).items():
        assert importlib.metadata.version(name) == pin.version, f"{name}: run ./dev venv"


# ./dev venv, with stand-ins for the venv's pip and python that log what they are asked to do ---------------

STUB = """#!/bin/sh
call="$(basename "$0") $*"
echo "$call" >> "$STUB_LOG"
case "$call" in *"$STUB_FAIL"*) [ -n "$STUB_FAIL" ] && exit 1 ;; esac
exit 0
"""


@pytest.fixture
def dev(tmp_path: Path):
    repo, venv = tmp_path / "repo", tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    repo.mkdir()
    (repo / "dev").write_text((ROOT / "dev").read_text(encoding="utf-8"), encoding="utf-8")
    (repo / "requirements-dev.lock").write_text("a==1 --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    (repo / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    for tool in ("pip", "python"):
        (venv / "bin" / tool).write_text(STUB, encoding="utf-8")
        (venv / "bin" / tool).chmod(stat.S_IRWXU)
    log = tmp_path / "calls.log"

    def run(fail: str = "") -> tuple[int, list[str], str]:
        log.write_text("")
        env = os.environ | {"BRIDGE_VENV": str(venv), "STUB_LOG": str(log), "STUB_FAIL": fail}
        done = subprocess.run(["bash", str(repo / "dev"), "venv"], env=env, capture_output=True, text=True,
                              timeout=60)
        return done.returncode, log.read_text().splitlines(), done.stderr

    run.repo = repo  # type: ignore[attr-defined]
    return run


def test_dev_venv_installs_the_hashed_lock_then_the_project_without_resolving(dev):
    code, calls, _ = dev()
    assert code == 0
    installs = [c for c in calls if c.startswith("pip install")]
    assert len(installs) == 2
    assert installs[0].endswith("--require-hashes -r requirements-dev.lock")
    assert installs[1].endswith("--no-deps --no-build-isolation -e .")
    assert "pip check" in calls


def test_dev_venv_installs_again_only_when_the_lock_or_pyproject_changes(dev):
    assert dev()[0] == 0
    assert dev()[1] == []  # up to date: nothing runs
    lock = dev.repo / "requirements-dev.lock"
    lock.write_text(lock.read_text() + "b==2 --hash=sha256:" + "1" * 64 + "\n")
    assert any("--require-hashes" in c for c in dev()[1])
    assert dev()[1] == []
    (dev.repo / "pyproject.toml").write_text("[project]\nname = 'y'\n")
    assert any("--require-hashes" in c for c in dev()[1])


@pytest.mark.parametrize(("failing", "says"), [("--require-hashes", ""), ("pip check", "run ./dev lock")])
def test_dev_venv_fails_and_tries_again_next_time_when_the_install_or_the_check_fails(dev, failing, says):
    code, _, stderr = dev(fail=failing)
    assert code != 0
    assert says in stderr
    assert any("--require-hashes" in c for c in dev()[1])  # no stamp was left behind
