"""Nothing that fails in compatibility mode 8.2.13: the 8.3-only string functions, waiting, async.

UT 10.3 runs on platform 8.3 in compatibility mode 8.2.13, where these names do not exist (or, for
ВызватьПаузу, exist only from 8.3.25).  The check walks the syntax tree, so the names may appear in
comments and strings (the module's own comments mention them), just never as calls or keywords.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tree_sitter import Node

from tests.bsl import source

FORBIDDEN_CALLS = {
    name.lower(): name
    for name in (
        "СтрНайти",
        "СтрРазделить",
        "СтрСоединить",
        "СтрШаблон",
        "СтрНачинаетсяС",
        "СтрЗаканчиваетсяНа",
        "ВызватьПаузу",
        "Ждать",
        # their English spellings, in case someone writes the 8.3 style in English
        "StrFind",
        "StrSplit",
        "StrConcat",
        "StrTemplate",
        "StrStartsWith",
        "StrEndsWith",
        "Sleep",
    )
}
FORBIDDEN_KEYWORDS = {"AWAIT_KEYWORD": "Ждать", "ASYNC_KEYWORD": "Асинх"}


def violations(root: Node) -> list[str]:
    found = []
    for call in source.calls(root):
        if call.name.lower() in FORBIDDEN_CALLS:
            found.append(f"{call.name}() в {source.position(call.node)}")
    for node in source.walk(root):
        if node.type in FORBIDDEN_KEYWORDS:
            found.append(f"{FORBIDDEN_KEYWORDS[node.type]} в {source.position(node)}")
    return found


@pytest.mark.parametrize("path", source.bsl_files(), ids=[source.module_name(p) for p in source.bsl_files()])
def test_module_uses_nothing_missing_in_compatibility_mode_8_2_13(path: Path) -> None:
    assert violations(source.parse(path).root_node) == []


def _tree(code: str) -> Node:
    return source.parser("bsl").parse(f"Процедура Т()\n{code}\nКонецПроцедуры\n".encode()).root_node


@pytest.mark.parametrize(
    "code",
    [
        'Х = СтрНайти(А, ",");',
        'Части = СтрРазделить(А, ",");',
        "Х = стрсоединить(Части);",
        "Модуль.СтрШаблон(1);",
        "ВызватьПаузу(5);",
        "Ждать Обещание;",
    ],
)
def test_the_check_finds_a_forbidden_call(code: str) -> None:
    assert violations(_tree(code)), code


def test_the_check_finds_an_async_procedure() -> None:
    root = source.parser("bsl").parse("Асинх Процедура Т()\nКонецПроцедуры\n".encode()).root_node
    assert violations(root) == ["Асинх в строка 1, колонка 1"]


def test_names_in_comments_and_strings_are_not_calls() -> None:
    code = '// вместо СтрНайти(А, Б) используем Найти\nХ = "СтрРазделить(А, Б)";\nХ = Найти(А, ",");'
    assert violations(_tree(code)) == []
