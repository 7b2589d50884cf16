"""The 1C module (onec_outbox/bsl) as the static checks see it: syntax trees, procedures, calls, queries.

No 1C platform runs on our machines, so these checks are what stands between a typo and a 1C programmer's
failed configuration update.  Two grammars from PyPI are used: ``tree-sitter-bsl`` (the one the project
standardised on) and ``tree-sitter-hbk``, a fork of the same grammar that also parses 1C query language
(``sdbl_language``), which lets us check every query text as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import tree_sitter_bsl
import tree_sitter_hbk
from tree_sitter import Language, Node, Parser, Tree

BSL_DIR = Path(__file__).resolve().parents[2] / "onec_outbox" / "bsl"
METADATA = BSL_DIR / "metadata.md"
GUIDE = BSL_DIR / "README.md"
PREFIX = "Б24Мост_"

_GRAMMARS = {
    "bsl": lambda: tree_sitter_bsl.language(),
    "hbk": lambda: tree_sitter_hbk.language(),
    "sdbl": lambda: tree_sitter_hbk.sdbl_language(),
}


@cache
def parser(grammar: str = "bsl") -> Parser:
    return Parser(Language(_GRAMMARS[grammar]()))


def bsl_files() -> list[Path]:
    return sorted(BSL_DIR.rglob("*.bsl"))


def module_name(path: Path) -> str:
    """``CommonModules/Б24Мост_Сервер.bsl`` → ``Б24Мост_Сервер``; other modules by their relative path."""
    relative = path.relative_to(BSL_DIR)
    if relative.parts[0] == "CommonModules":
        return path.stem
    return relative.as_posix()


def common_module_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted((BSL_DIR / "CommonModules").glob("*.bsl"))}


@cache
def parse(path: Path, grammar: str = "bsl") -> Tree:
    return parser(grammar).parse(path.read_bytes())


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def first_problem(node: Node) -> Node | None:
    """The first ERROR or MISSING node in document order, or None when the tree is clean."""
    if node.type == "ERROR" or node.is_missing:
        return node
    for child in node.children:
        if (found := first_problem(child)) is not None:
            return found
    return None


def position(node: Node) -> str:
    return f"строка {node.start_point.row + 1}, колонка {node.start_point.column + 1}"


def text(node: Node) -> str:
    return node.text.decode("utf-8")


# --- procedures -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    name: str
    has_default: bool


@dataclass(frozen=True)
class Procedure:
    module: str
    name: str
    params: tuple[Param, ...]
    exported: bool
    node: Node

    @property
    def required(self) -> int:
        return sum(1 for p in self.params if not p.has_default)

    def accepts(self, arguments: int) -> bool:
        return self.required <= arguments <= len(self.params)


def procedures(path: Path) -> dict[str, Procedure]:
    """Procedures and functions of a module by lower-cased name (BSL names are case-insensitive)."""
    found: dict[str, Procedure] = {}
    for node in parse(path).root_node.children:
        if node.type not in ("procedure_definition", "function_definition"):
            continue
        name = text(node.child_by_field_name("name"))
        params = []
        for param in node.child_by_field_name("parameters").children:
            if param.type == "parameter":
                identifier = next(c for c in param.children if c.type == "identifier")
                params.append(Param(text(identifier), any(c.type == "=" for c in param.children)))
        exported = node.child_by_field_name("export") is not None
        found[name.lower()] = Procedure(module_name(path), name, tuple(params), exported, node)
    return found


# --- calls --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    name: str
    qualifier: str | None  # "Б24Мост_Сервер" in Б24Мост_Сервер.ПрочитатьНастройки(); None for Ф(…)
    arguments: int
    node: Node


def _argument_count(arguments: Node) -> int:
    inner = [c for c in arguments.children if c.type not in ("(", ")")]
    if not inner:
        return 0
    return sum(1 for c in inner if c.type == ",") + 1


def calls(node: Node) -> Iterator[Call]:
    """Every method call under ``node``: global ones (``Ф()``) and on a simple name (``Модуль.Ф()``).

    Calls on longer chains (``Запрос.Выполнить().Выбрать()``) get a qualifier only when the object is a
    single identifier; for the rest ``qualifier`` is ``"…"`` (a method of some object, not a module).
    """
    for current in walk(node):
        if current.type != "method_call":
            continue
        name = text(next(c for c in current.children if c.type == "identifier"))
        arguments = next((c for c in current.children if c.type == "arguments"), None)
        count = _argument_count(arguments) if arguments is not None else 0
        qualifier = None
        previous = current.prev_sibling
        if previous is not None and previous.type == ".":
            target = previous.prev_sibling
            if (
                target is not None
                and target.type == "access"
                and [c.type for c in target.children] == ["identifier"]
            ):
                qualifier = text(target.children[0])
            else:
                qualifier = "…"
        yield Call(name, qualifier, count, current)


def try_statements(node: Node) -> Iterator[Node]:
    return (n for n in walk(node) if n.type == "try_statement")


def try_parts(statement: Node) -> tuple[list[Node], list[Node]]:
    """Statements of the Попытка branch and of the Исключение branch."""
    body: list[Node] = []
    handler: list[Node] = []
    target = body
    for child in statement.children:
        if child.type == "EXCEPT_KEYWORD":
            target = handler
        elif child.type not in ("TRY_KEYWORD", "ENDTRY_KEYWORD", ";"):
            target.append(child)
    return body, handler


def raises(statements: list[Node]) -> bool:
    return any(n.type == "rise_error_statement" for s in statements for n in walk(s))


# --- strings and queries ------------------------------------------------------------------------------


def string_value(node: Node) -> str:
    """The value of a BSL string literal: continuation lines lose their ``|``, ``""`` becomes ``"``."""
    raw = text(node)[1:-1]
    lines = raw.split("\n")
    value = "\n".join([lines[0], *(re.sub(r"^\s*\|", "", line) for line in lines[1:])])
    return value.replace('""', '"')


def _concatenation_root(node: Node) -> Node:
    """The outermost ``a + b + …`` expression that this literal is part of (or the literal itself)."""
    current = node
    while current.parent is not None and current.parent.type in (
        "const_expression",
        "expression",
        "binary_expression",
    ):
        if current.parent.type == "binary_expression":
            operator = next((c for c in current.parent.children if c.type == "operator"), None)
            if operator is None or text(operator) != "+":
                break
        current = current.parent
    return current


def _concatenated(node: Node) -> str:
    """A string expression with non-literal operands (``XMLСтрока(Количество)``) replaced by ``1``."""
    if node.type == "string":
        return string_value(node)
    if node.type == "binary_expression":
        return "".join(_concatenated(c) for c in node.children if c.type != "operator")
    if node.type in ("expression", "const_expression") and len(node.children) == 1:
        return _concatenated(node.children[0])
    return "1"


@dataclass(frozen=True)
class QueryText:
    module: str
    line: int
    text: str


def query_texts(path: Path) -> list[QueryText]:
    """Every query text of a module: string expressions that start with ВЫБРАТЬ."""
    found: dict[int, QueryText] = {}
    for node in walk(parse(path).root_node):
        if node.type != "string" or not string_value(node).lstrip().upper().startswith("ВЫБРАТЬ"):
            continue
        root = _concatenation_root(node)
        found[root.start_byte] = QueryText(module_name(path), root.start_point.row + 1, _concatenated(root))
    return list(found.values())


_VIRTUAL_TABLE = re.compile(r"\.(СрезПоследних|СрезПервых|Остатки|Обороты|ОстаткиИОбороты)\(", re.IGNORECASE)


def query_for_grammar(query: str) -> str:
    """Prepare a query text for the SDBL grammar.

    ``#Документ#`` placeholders (replaced in code before execution) become a name, and the parameters of
    virtual tables (``СрезПоследних(&НаДату, Номенклатура = &Н)``) are dropped: the grammar does not parse
    conditions there, although the platform requires them for performance.  The rest is checked as is.
    """
    query = re.sub(r"#\w+#", "Х", query)
    out, index = [], 0
    for match in _VIRTUAL_TABLE.finditer(query):
        if match.start() < index:
            continue
        out.append(query[index : match.end()])
        depth, cursor = 1, match.end()
        while cursor < len(query) and depth:
            depth += {"(": 1, ")": -1}.get(query[cursor], 0)
            cursor += 1
        out.append(")")
        index = cursor
    out.append(query[index:])
    return "".join(out)


# --- comments stripped -----------------------------------------------------------------------------------


def code_without_comments(node: Node) -> str:
    """Source of a node with ``//`` comments blanked out (byte offsets kept)."""
    source = bytearray(node.text)
    for current in walk(node):
        if current.type == "line_comment":
            start, end = current.start_byte - node.start_byte, current.end_byte - node.start_byte
            source[start:end] = b" " * (end - start)
    return source.decode("utf-8", errors="replace")
