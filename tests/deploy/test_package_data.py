"""The Alembic scripts ship inside the package: an installed bridge (the image, a wheel) can migrate without
a copy of the repository."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.support import ROOT

MIGRATIONS = ROOT / "bridge" / "migrations"


def migration_files() -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in MIGRATIONS.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_the_bridge_finds_its_migrations_inside_the_package_by_default(monkeypatch):
    from bridge import schema

    monkeypatch.delenv("BRIDGE_MIGRATIONS_DIR", raising=False)
    assert schema.migrations_dir() == Path(schema.__file__).resolve().parent / "migrations" == MIGRATIONS
    assert {"bridge/migrations/env.py", "bridge/migrations/script.py.mako"} <= migration_files()


def test_the_schema_revision_the_components_require_is_the_newest_migration(monkeypatch):
    """Components refuse a database migrated to an older revision than ``db.SCHEMA_REVISION``: a new migration
    must move it, or a release that needs the new table would start on a database without it."""
    from alembic.script import ScriptDirectory

    from bridge import db, schema

    monkeypatch.delenv("BRIDGE_MIGRATIONS_DIR", raising=False)
    heads = ScriptDirectory.from_config(schema.alembic_config("postgresql://u@h/d")).get_heads()
    assert heads == [db.SCHEMA_REVISION]
    revisions = [r.revision for r in ScriptDirectory.from_config(schema.alembic_config("postgresql://u@h/d")).walk_revisions()]
    assert sorted(revisions) == sorted(revisions, key=int)  # the check compares them as zero-padded text


def test_no_migration_lives_outside_the_package():
    """A revision added under the old top-level migrations/ (say, by a branch older than the move) would
    never run: the bridge only reads bridge/migrations."""
    assert not (ROOT / "migrations").exists(), "move migrations/* to bridge/migrations/"


def test_the_plain_alembic_command_reads_the_same_scripts():
    ini = configparser.ConfigParser(defaults={"here": str(ROOT)})
    ini.read(ROOT / "alembic.ini", encoding="utf-8")
    assert Path(ini.get("alembic", "script_location")).resolve() == MIGRATIONS


@pytest.mark.slow
def test_the_built_wheel_carries_every_migration_file(tmp_path):
    source = tmp_path / "src"  # what the image's build stage copies; building in ROOT would write build/ there
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for name in ("bridge", "onec_outbox"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    wheel = next(tmp_path.glob("onec_b24_bridge-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert migration_files() <= names, sorted(migration_files() - names)
    assert len([n for n in names if n.startswith("bridge/migrations/versions/")]) >= 4
