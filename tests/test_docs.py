"""The documentation a user reads first stays true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import click
import yaml

from bridge.cli import main as cli
from bridge.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_configuration_table_lists_every_setting():
    listed = set(re.findall(r"^\| `(BRIDGE_[A-Z0-9_]+)` \|", README, re.MULTILINE))
    settings = {f"BRIDGE_{name.upper()}" for name in Settings.model_fields}
    assert settings - listed == set(), "settings missing from the README table"
    assert listed - settings == set(), "README lists settings the code does not have"


def test_every_command_the_readme_names_exists_with_help():
    named = set(re.findall(r"^\| `b24bridge (\w+)", README, re.MULTILINE))
    commands = set(cli.list_commands(click.Context(cli)))
    assert named and named <= commands, named - commands
    assert commands <= named, f"commands missing from the README: {commands - named}"


def test_every_document_the_readme_links_exists():
    for link in re.findall(r"\]\(([^)#]+)\)", README):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link


def test_every_alert_has_a_runbook_section():
    rules = yaml.safe_load((ROOT / "deploy/prometheus/rules.yml").read_text(encoding="utf-8"))
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    sections = set(re.findall(r"^### (\w+)$", (ROOT / "docs/operations.md").read_text(encoding="utf-8"), re.MULTILINE))
    assert alerts and alerts <= sections, alerts - sections


def test_every_dead_letter_reason_has_a_row_in_the_runbook():
    """`dlq list` shows a reason; the runbook's table under BridgeDeadLettersGrowing says what it means and
    what to do (b24_not_found had no row: an operator who met one found nothing)."""
    from bridge.metrics import dead_letter_reasons

    text = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    section = text[text.index("### BridgeDeadLettersGrowing"):]
    section = section[:section.index("\n### ", 1)]
    rows = {r for line in re.findall(r"^\| (`[a-z_0-9]+`(?:, `[a-z_0-9]+`)*) \|", section, re.MULTILINE)
            for r in re.findall(r"`([a-z_0-9]+)`", line)}
    reasons = {*dead_letter_reasons(), "delivery_limit", "unrouted"}  # needs_review: only without a review list
    assert reasons - rows == set(), "dead-letter reasons without a row in docs/operations.md"


def test_the_webhook_scopes_are_the_same_list_in_the_code_and_every_document():
    from bridge.portal.scopes import WEBHOOK_SCOPES

    expected = ", ".join(f"`{scope}`" for scope in WEBHOOK_SCOPES)
    lists = re.compile(r"scopes? ((?:[`*]+[a-z_]+[`*]+(?:,? and |, |,? or )?)+)")
    for path in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))):
        text = " ".join(path.read_text(encoding="utf-8").split())  # a list may break across lines
        for found in lists.findall(text):
            names = re.findall(r"[a-z_]+", found)
            if len(names) > 1:  # a list of scopes, not "the `crm` scope" of one section
                assert found.strip() == expected, f"{path.name}: scopes {found!r}, the code says {expected}"
    for name in ("README.md", "docs/deployment.md", "docs/portal.md", "docs/operations.md"):
        assert f"scopes {expected}" in " ".join((ROOT / name).read_text(encoding="utf-8").split()), name


def test_the_deployment_guide_creates_the_namespace_before_anything_goes_into_it():
    """Followed step by step on an empty cluster: `kubectl -n bridge create secret` fails with
    NotFound unless the namespace was made first (helm's --create-namespace comes only at step 3)."""
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    commands = [line.strip() for block in re.findall(r"```bash\n(.*?)```", guide, re.DOTALL)
                for line in block.splitlines() if line.strip().startswith(("kubectl", "helm"))]
    created = False
    for command in commands:
        if re.match(r"kubectl create (namespace|ns) bridge\b", command) or "--create-namespace" in command:
            created = True
        elif re.search(r"(-n|--namespace)[ =]bridge\b", command):
            assert created, f"{command!r} runs before the namespace bridge exists"
