"""The mapping setup prints: the input file with its values changed in place, comments kept (pure)."""

from __future__ import annotations

import yaml

from bridge.mapping import default_text, parse
from bridge.portal.plan import MappingChange
from bridge.portal.yamltext import HEADER, render, scalar


def change(key, old, new):
    return MappingChange(key, old, new, "test")


def test_filling_in_the_catalog_keeps_every_comment_and_the_alignment_of_the_default_file():
    text = default_text()
    out = render(text, [change("products.iblock_id", None, 25)], "default")
    assert parse(out).products.iblock_id == 25
    before, after = text.splitlines(), out.splitlines()
    differing = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after)
    comment = "# the product catalog's iblock id; null = found with catalog.catalog.list"
    assert differing == [(f"  iblock_id: null             {comment}", f"  iblock_id: 25               {comment}")]


def test_a_stage_name_in_a_flow_mapping_is_rewritten_with_the_comment_kept_in_its_column():
    out = render(default_text(), [change("deals.stages.cancelled.name", "Сделка провалена", "Отказ: клиент ушёл")],
                 "default")
    assert parse(out).deals.stages.cancelled.name == "Отказ: клиент ушёл"
    line = next(line for line in out.splitlines() if line.strip().startswith("cancelled:"))
    assert line == '    cancelled:      {id: LOSE, name: "Отказ: клиент ушёл"}         # order marked for deletion in 1C'
    original = next(line for line in default_text().splitlines() if line.strip().startswith("cancelled:"))
    assert line.index("#") == original.index("#")


def test_a_block_style_value_is_edited_on_its_own_line():
    text = ("requisite_presets: {company: 1, individual_entrepreneur: 2, person: 3}\n"
            "deals:\n  stages:\n    paid:\n      id: B24B_PAID\n      name: Оплачено  # ours\n"
            "  user_fields:\n    paid_amount: UF_CRM_X\n")
    out = render(text, [change("deals.stages.paid.name", "Оплачено", "Оплата получена"),
                        change("deals.user_fields.paid_amount", "UF_CRM_X", "UF_CRM_1700")], "f.yaml")
    assert "      name: \"Оплата получена\"  # ours\n" in out
    assert "    paid_amount: UF_CRM_1700\n" in out
    assert not out.startswith("# onec-b24-bridge mapping file, written by")


def test_a_key_the_file_lacks_gives_the_whole_mapping_afresh_under_a_header_comment():
    text = "requisite_presets: {company: 1, individual_entrepreneur: 2, person: 3}  # from the portal\n"
    out = render(text, [change("products.iblock_id", None, 25)], "minimal.yaml")
    assert out.startswith(HEADER.format(origin="minimal.yaml"))
    assert yaml.safe_load(out) == {"requisite_presets": {"company": 1, "individual_entrepreneur": 2, "person": 3},
                                   "products": {"iblock_id": 25}}


def test_without_changes_the_text_is_returned_as_it_was():
    text = default_text()
    assert render(text, [], "default") is text


def test_strings_yaml_would_misread_are_quoted():
    assert scalar("UF_CRM_B24B_PAID_SUM") == "UF_CRM_B24B_PAID_SUM"
    for tricky in ("null", "yes", "on", "12", "a: b", "# x", "Счет оплачен / Оплата получена", ""):
        assert yaml.safe_load(f"k: {scalar(tricky)}") == {"k": tricky}
    assert scalar({"id": "LOSE", "name": "Сделка провалена"}) == '{id: LOSE, name: "Сделка провалена"}'
