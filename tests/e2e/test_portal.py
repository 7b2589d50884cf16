"""``b24bridge portal setup|check`` in-process (click's CliRunner) against the sandbox over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from bridge.cli import main
from bridge.mapping import default_text, parse
from b24_sandbox import SandboxConfig, serve_in_thread

ONEC_USER = "5d1e9a70-2f4b-11ef-8b1a-00155d012a07"
BRIDGE_STAGES = ("B24B_ORDER", "B24B_INVOICE", "B24B_SHIPPED", "B24B_PAID")


@pytest.fixture
def portal():
    with serve_in_thread(SandboxConfig(rate=0), port=0) as srv:
        yield srv


def run(srv, *args: str, mapping: Path | None = None) -> Result:
    env = {"BRIDGE_B24_WEBHOOK_URL": srv.webhook_url, "BRIDGE_MAPPING_FILE": str(mapping) if mapping else None,
           "BRIDGE_B24_BATCH_LINGER": "0.005"}
    return CliRunner().invoke(main, ["portal", *args], env=env, catch_exceptions=False)


def stages(srv, funnel: int = 0) -> list[dict]:
    entity = "DEAL_STAGE" if funnel == 0 else f"DEAL_STAGE_{funnel}"
    return sorted((s for s in srv.sandbox.state()["statuses"] if s["ENTITY_ID"] == entity),
                  key=lambda s: int(s["SORT"]))


def user_fields(srv) -> dict[str, dict]:
    return {f["FIELD_NAME"]: f for f in srv.sandbox.state()["userfields"]}


def adds(srv) -> dict[str, int]:
    return {m: n for m, n in srv.sandbox.stats()["per_method"].items() if m.endswith(".add")}


def write_mapping(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_setup_on_an_empty_portal_creates_four_stages_and_eight_fields_and_check_accepts_the_printed_mapping(
        portal, tmp_path):
    assert run(portal, "check").exit_code == 1

    result = run(portal, "setup")

    assert result.exit_code == 0, result.stderr
    board = stages(portal)
    ids = [s["STATUS_ID"] for s in board]
    assert [i for i in ids if i.startswith("B24B_")] == list(BRIDGE_STAGES)
    assert ids.index("FINAL_INVOICE") < ids.index("B24B_ORDER") and ids.index("B24B_PAID") < ids.index("WON")
    assert {s["NAME"] for s in board if s["STATUS_ID"] == "B24B_PAID"} == {"Счет оплачен / Оплата получена"}
    assert all(s["SEMANTICS"] is None for s in board if s["STATUS_ID"].startswith("B24B_"))
    fields = user_fields(portal)
    assert {name: f["USER_TYPE_ID"] for name, f in fields.items()} == {
        "UF_CRM_B24B_INVOICE_NO": "string", "UF_CRM_B24B_INVOICE_DATE": "date", "UF_CRM_B24B_PAID_SUM": "money",
        "UF_CRM_B24B_PAYMENT_DATE": "date", "UF_CRM_B24B_SHIPMENT_NO": "string",
        "UF_CRM_B24B_SHIPMENT_DATE": "date", "UF_CRM_B24B_SHIPMENT_SUM": "money",
        "UF_CRM_B24B_LEGAL_ENTITY": "string"}
    invoice_no = fields["UF_CRM_B24B_INVOICE_NO"]
    assert invoice_no["EDIT_FORM_LABEL"] == invoice_no["LIST_COLUMN_LABEL"] == "Счёт 1С: номер"
    assert invoice_no["XML_ID"] == "b24bridge:invoice_number"

    printed = parse(result.stdout, "printed mapping")
    assert printed.products.iblock_id == 25
    assert "# crm.requisite.preset ids per 1C legal form" in result.stdout  # the default file's comments
    assert "create stage B24B_PAID" in result.stderr and "the portal matches the mapping" in result.stderr

    check = run(portal, "check", mapping=write_mapping(tmp_path, result.stdout))
    assert check.exit_code == 0, check.stdout
    assert "the portal matches the mapping" in check.stdout


def test_setup_a_second_time_creates_nothing_and_prints_the_same_mapping(portal):
    first = run(portal, "setup")
    assert first.exit_code == 0
    made, counts = adds(portal), (len(stages(portal)), len(user_fields(portal)))
    assert made == {"crm.status.add": 4, "crm.deal.userfield.add": 8}

    second = run(portal, "setup")

    assert second.exit_code == 0, second.stderr
    assert adds(portal) == made
    assert (len(stages(portal)), len(user_fields(portal))) == counts
    assert second.stdout == first.stdout
    assert "nothing to create" in second.stderr


def test_setup_in_a_non_default_funnel_creates_stages_with_its_prefix(portal, tmp_path):
    funnel = portal.sandbox.call("crm.category.add", {"entityTypeId": 2, "fields": {"name": "Опт"}}).result.value
    funnel_id = funnel["category"]["id"]
    text = default_text().replace("category_id: 0 ", f"category_id: {funnel_id} ")
    path = write_mapping(tmp_path, text)

    result = run(portal, "setup", "--write", str(tmp_path / "out.yaml"), mapping=path)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    ids = [s["STATUS_ID"] for s in stages(portal, funnel_id)]
    prefix = f"C{funnel_id}:"
    assert [i for i in ids if "B24B_" in i] == [prefix + s for s in BRIDGE_STAGES]
    assert ids.index(prefix + "B24B_PAID") < ids.index(prefix + "WON")
    assert not any("B24B_" in s["STATUS_ID"] for s in stages(portal, 0))
    written = parse((tmp_path / "out.yaml").read_text(encoding="utf-8"))
    assert written.deals.category_id == funnel_id and written.deals.stage_id("paid") == prefix + "B24B_PAID"
    assert run(portal, "check", mapping=tmp_path / "out.yaml").exit_code == 0


def test_check_on_a_broken_mapping_names_each_problem_by_its_key_and_exits_1(portal, tmp_path):
    run(portal, "setup")
    portal.sandbox.call("crm.deal.userfield.add", {"fields": {"FIELD_NAME": "UF_CRM_HAND_PAID",
                                                              "USER_TYPE_ID": "string", "LABEL": "Оплачено"}})
    data = yaml.safe_load(default_text())
    data["requisite_presets"]["company"] = 7
    data["deals"]["category_id"] = 5
    data["deals"]["user_fields"]["paid_amount"] = "UF_CRM_HAND_PAID"
    data["default_responsible_id"] = 99
    data["users"]["by_onec_id"] = {ONEC_USER: 42}
    path = write_mapping(tmp_path, yaml.safe_dump(data, allow_unicode=True))
    before = portal.sandbox.stats()["per_method"]

    result = run(portal, "check", mapping=path)

    assert result.exit_code == 1
    out = result.stdout
    assert "requisite_presets.company: preset 7 does not exist; presets on this portal: 1 Организация " \
           "(#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#)" in out
    assert "set requisite_presets.company: 1" in out
    assert "deals.category_id: funnel 5 does not exist; funnels: 0 Общая" in out
    assert "deals.user_fields.paid_amount: UF_CRM_HAND_PAID exists but is of type string, expected money" in out
    assert "default_responsible_id: user 99 not found or inactive" in out
    assert f"users.by_onec_id[{ONEC_USER}]: user 42 not found or inactive" in out
    assert not {m for m in portal.sandbox.stats()["per_method"] if m.endswith(".add")} - set(before)

    as_json = run(portal, "check", "--json", mapping=path)
    assert as_json.exit_code == 1
    report = json.loads(as_json.stdout)
    assert report["ok"] is False
    assert {p["key"] for p in report["problems"]} == {
        "requisite_presets.company", "deals.category_id", "deals.user_fields.paid_amount",
        "default_responsible_id", f"users.by_onec_id[{ONEC_USER}]"}
    assert all(p["fixed_by"] == "human" for p in report["problems"])


def test_setup_leaves_what_needs_a_human_and_exits_1(portal, tmp_path):
    path = write_mapping(tmp_path, default_text().replace("default_responsible_id: 1", "default_responsible_id: 99"))

    result = run(portal, "setup", mapping=path)

    assert result.exit_code == 1
    assert adds(portal) == {"crm.status.add": 4, "crm.deal.userfield.add": 8}
    assert "default_responsible_id: user 99 not found or inactive" in result.stderr
    assert parse(result.stdout).default_responsible_id == 99  # the mapping is still printed


def test_a_dry_run_shows_the_plan_and_writes_nothing(portal, tmp_path):
    out = tmp_path / "out.yaml"

    result = run(portal, "setup", "--dry-run", "--write", str(out), "--json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert [a["params"]["fields"].get("STATUS_ID") for a in report["actions"][:4]] == list(BRIDGE_STAGES)
    assert len(report["actions"]) == 12 and not any(a["done"] for a in report["actions"])
    assert report["changes"] == [{"key": "products.iblock_id", "old": None, "new": 25,
                                  "reason": 'the product catalog "Товарный каталог CRM"'}]
    assert adds(portal) == {} and not out.exists() and report["mapping"] is None


def test_a_wrong_webhook_code_exits_2_without_showing_the_code(portal):
    wrong = portal.webhook_url.replace("sandbox0webhook0code", "wrongcode12345")
    result = CliRunner().invoke(main, ["portal", "check"], env={"BRIDGE_B24_WEBHOOK_URL": wrong,
                                                                 "BRIDGE_MAPPING_FILE": None})
    assert result.exit_code == 2
    assert "INVALID_CREDENTIALS" in result.stderr
    assert "wrongcode12345" not in result.stdout + result.stderr


def test_an_invalid_mapping_file_exits_2_naming_the_key(portal, tmp_path):
    path = write_mapping(tmp_path, default_text().replace("company: 1 ", "company: -1 "))
    result = run(portal, "check", mapping=path)
    assert result.exit_code == 2
    assert "requisite_presets.company: must be a positive integer" in result.stderr


def test_a_webhook_without_the_catalog_scope_gets_those_keys_reported_and_the_rest_checked():
    """The admin forgot to tick ``catalog`` on the webhook (the sandbox holds it to its scopes, as the portal does)."""
    with serve_in_thread(SandboxConfig(rate=0), port=0) as full:
        assert run(full, "setup").exit_code == 0
        state = full.sandbox.store
    with serve_in_thread(SandboxConfig(rate=0, webhook_scope="crm,user,im"), port=0) as portal:
        portal.sandbox.store = state  # the portal set up, its webhook without catalog
        result = run(portal, "check", "--json")

    assert result.exit_code == 1, result.stderr
    problems = json.loads(result.stdout)["problems"]
    assert [p["key"] for p in problems] == ["products.iblock_id", "products.base_price_type_id"]
    # read in a batch, where the portal gives a command refused for its scope no description
    assert problems[0]["problem"] == "cannot read product catalogs (catalog.catalog.list): insufficient_scope"
    assert all("catalog scope" in p["fix"] for p in problems)


def test_setup_write_reads_the_existing_file_and_keeps_the_operators_edits(portal, tmp_path):
    target = write_mapping(tmp_path, default_text() + "# edited by the operator: keep me\n")

    first = run(portal, "setup", "--write", str(target))  # no --mapping: the file to write is the one read

    assert first.exit_code == 0, first.stderr
    assert f"mapping: {target}" in first.stderr
    text = target.read_text(encoding="utf-8")
    assert "# edited by the operator: keep me" in text
    assert (tmp_path / "mapping.yaml.bak").read_text(encoding="utf-8").endswith("keep me\n")
    (tmp_path / "mapping.yaml.bak").unlink()

    again = run(portal, "setup", "--write", str(target))

    assert again.exit_code == 0, again.stderr
    assert "unchanged" in again.stderr
    assert target.read_text(encoding="utf-8") == text and not (tmp_path / "mapping.yaml.bak").exists()


def test_setup_never_replaces_another_mapping_without_force(portal, tmp_path):
    edited = tmp_path / "edited.yaml"
    edited.write_text(default_text() + "# someone's work\n", encoding="utf-8")
    source = write_mapping(tmp_path, default_text())

    refused = run(portal, "setup", "--mapping", str(source), "--write", str(edited))

    assert refused.exit_code == 2
    [line] = [x for x in refused.stderr.splitlines() if x.startswith("Error: ")]
    assert "--force" in line and str(edited) in line
    assert edited.read_text(encoding="utf-8").endswith("# someone's work\n")
    assert adds(portal) == {}  # refused before touching the portal

    forced = run(portal, "setup", "--force", "--mapping", str(source), "--write", str(edited))

    assert forced.exit_code == 0, forced.stderr
    assert "# someone's work" not in edited.read_text(encoding="utf-8")
    assert (tmp_path / "edited.yaml.bak").read_text(encoding="utf-8").endswith("# someone's work\n")
