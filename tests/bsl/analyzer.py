"""A static analyzer of our BSL: the three mistakes a parse check cannot see and the platform refuses.

The 1C platform compiles a whole module at once and refuses it for one undefined name, so a single
``АдресИзЗаписи(Выборка)`` with ``Выборка`` never assigned (the blocker of the expert review) turned every
event into «Отклонено».  tree-sitter-bsl parses such code happily; these rules read its tree:

* ``undefined``: every variable read inside a procedure is assigned earlier in the procedure (document
  order, which is stricter than the platform), or is a parameter, a module variable, a name of the
  global context, or (object and form modules) an attribute of the object;
* ``call``: every unqualified call reaches a procedure of the module (with an accepted number of
  arguments) or a platform global function of the allow-list whose version is ≤ 8.3.6 and which compatibility
  mode 8.2.13 does not hide; a call ``Модуль.Ф()`` into our common module reaches an exported procedure
  with an accepted number of arguments; ``Новый Т`` names an allow-listed platform type;
* ``metadata``: every metadata name (``Справочники.X``, ``Документы.X``, ``Перечисления.X.Y``,
  ``Тип("СправочникСсылка.X")``, ``Справочник.X`` and ``Алиас.Реквизит`` in queries) resolves against the
  catalogue ``onec_outbox/bsl/catalogue/ut103.json`` (kept as data, with the UT release it was checked
  against) or the objects the module adds (``metadata.md``); a release-dependent attribute is read in a
  query only under ``Если ЕстьРеквизит("…") Тогда`` (else through a ``#Поле#`` placeholder filled by
  ``ПолеЕслиЕсть``, which this check does not see as a field).

* ``duplicate``: no two procedures of a module share a name (a merge that kept both copies).

Data: ``catalogue/platform.json`` (global functions with versions, types, global context names) and
``catalogue/ut103.json``.  What is not checked: methods of objects (no types), flow-sensitive definition.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache

from tree_sitter import Node

from tests.bsl import source

CATALOGUE = source.BSL_DIR / "catalogue"
TARGET_PLATFORM = (8, 3, 6)


@dataclass(frozen=True)
class Finding:
    rule: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.rule}] {self.where}: {self.message}"


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


@cache
def platform() -> dict:
    return json.loads((CATALOGUE / "platform.json").read_text(encoding="utf-8"))


@cache
def ut103() -> dict:
    return json.loads((CATALOGUE / "ut103.json").read_text(encoding="utf-8"))


def _lower_keys(items: dict) -> dict:
    return {k.lower(): v for k, v in items.items()}


# --- module context ----------------------------------------------------------------------------------


@dataclass
class Module:
    """A module as the analyzer sees it; ``visible`` adds procedures the platform makes callable."""

    name: str
    root: Node
    procedures: dict[str, source.Procedure]
    visible: dict[str, source.Procedure] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)  # object attributes, form elements: readable names
    common: dict[str, dict[str, source.Procedure]] = field(default_factory=dict)


def module_from_text(code: str, name: str = "Фрагмент", common: dict | None = None) -> Module:
    root = source.parser("bsl").parse(code.encode("utf-8")).root_node
    return Module(name, root, _procedures(root, name), common=common or {})


def _procedures(root: Node, module: str) -> dict[str, source.Procedure]:
    found = {}
    for node in root.children:
        if node.type not in ("procedure_definition", "function_definition"):
            continue
        name = source.text(node.child_by_field_name("name"))
        params = []
        for param in node.child_by_field_name("parameters").children:
            if param.type == "parameter":
                identifier = next(c for c in param.children if c.type == "identifier")
                params.append(source.Param(source.text(identifier), any(c.type == "=" for c in param.children)))
        export = node.child_by_field_name("export") is not None
        found[name.lower()] = source.Procedure(module, name, tuple(params), export, node)
    return found


def _where(module: Module, node: Node) -> str:
    return f"{module.name}:{node.start_point.row + 1}"


# --- rule: undefined ----------------------------------------------------------------------------------


def _module_variables(root: Node) -> set[str]:
    return {
        source.text(c).lower()
        for node in root.children
        if node.type == "var_definition"
        for c in node.children
        if c.type == "identifier"
    }


def _definitions_and_reads(procedure: Node) -> tuple[list[tuple[int, str]], list[Node]]:
    """(position after which a name is defined, name) and the identifier nodes that read a variable."""
    defined: list[tuple[int, str]] = []
    reads: list[Node] = []
    for node in source.walk(procedure):
        if node.type != "identifier" or node.is_missing or not node.text:
            continue
        parent = node.parent
        name = source.text(node).lower()
        field_name = parent.field_name_for_child(parent.children.index(node)) if parent else None
        if parent.type in ("procedure_definition", "function_definition", "parameter"):
            continue
        if parent.type in ("var_statement", "var_definition"):
            defined.append((node.start_byte, name))
        elif parent.type == "assignment_statement" and field_name == "left":
            defined.append((parent.end_byte, name))  # Х = Х + 1 reads Х before defining it
        elif parent.type in ("for_each_statement", "for_statement") and node.prev_sibling is not None and (
            node.prev_sibling.type in ("EACH_KEYWORD", "FOR_KEYWORD")
        ):
            defined.append((node.start_byte, name))
        elif parent.type == "method_call" or (parent.type == "new_expression" and field_name == "type"):
            continue
        else:
            reads.append(node)
    return defined, reads


def undefined_variables(module: Module) -> list[Finding]:
    known = _module_variables(module.root) | {n.lower() for n in module.names}
    known |= {n.lower() for n in platform()["global_context"]}
    known |= {n.lower() for n in module.common}
    findings = []
    for procedure in module.procedures.values():
        params = {p.name.lower() for p in procedure.params}
        defined, reads = _definitions_and_reads(procedure.node)
        for node in reads:
            name = source.text(node).lower()
            if name in params or name in known:
                continue
            if any(position <= node.start_byte and n == name for position, n in defined):
                continue
            findings.append(
                Finding(
                    "undefined",
                    _where(module, node),
                    f"переменная «{source.text(node)}» читается в {procedure.name}, но ей ничего не присвоено "
                    "раньше (платформа откажется компилировать модуль: «Переменная не определена»)",
                )
            )
    return findings


# --- rule: call ---------------------------------------------------------------------------------------


def _platform_function(name: str) -> str | None:
    """None when the global function may be called on 8.3.6+ in compatibility mode 8.2.13; else why not."""
    entry = _lower_keys(platform()["functions"]).get(name.lower())
    if entry is None:
        return "нет ни среди наших процедур, ни в списке разрешённых функций платформы (catalogue/platform.json)"
    if version(entry["since"]) > TARGET_PLATFORM:
        return f"появилась в платформе {entry['since']}, а модуль должен работать на 8.3.6"
    if entry.get("hidden_in_compat_8_2_13"):
        return "недоступна в режиме совместимости 8.2.13 (UT 10.3)"
    return None


def unresolved_calls(module: Module) -> list[Finding]:
    findings = []
    visible = {**module.visible, **module.procedures}
    types = _lower_keys(platform()["types"])
    for call in source.calls(module.root):
        where = _where(module, call.node)
        if call.qualifier is None:
            procedure = visible.get(call.name.lower())
            if procedure is None:
                problem = _platform_function(call.name)
                if problem:
                    findings.append(Finding("call", where, f"{call.name}(): {problem}"))
            elif not procedure.accepts(call.arguments):
                findings.append(
                    Finding(
                        "call",
                        where,
                        f"{call.name}(): передано {call.arguments} аргументов, "
                        f"процедура принимает {procedure.required}…{len(procedure.params)}",
                    )
                )
        elif call.qualifier.lower() in {m.lower() for m in module.common}:
            target = _lower_keys(module.common)[call.qualifier.lower()]
            procedure = target.get(call.name.lower())
            if procedure is None or not procedure.exported:
                findings.append(
                    Finding("call", where, f"{call.qualifier}.{call.name}(): нет такой экспортной процедуры")
                )
            elif not procedure.accepts(call.arguments):
                findings.append(
                    Finding(
                        "call",
                        where,
                        f"{call.qualifier}.{call.name}(): передано {call.arguments} аргументов, "
                        f"принимает {procedure.required}…{len(procedure.params)}",
                    )
                )
    for node in source.walk(module.root):
        if node.type == "new_expression" and node.child_by_field_name("type") is not None:
            name = source.text(node.child_by_field_name("type"))
            entry = types.get(name.lower())
            if entry is None:
                findings.append(Finding("call", _where(module, node), f"Новый {name}: тип не в списке платформы"))
            elif version(entry["since"]) > TARGET_PLATFORM:
                findings.append(
                    Finding("call", _where(module, node), f"Новый {name}: появился в {entry['since']}")
                )
    return findings


# --- rule: metadata -----------------------------------------------------------------------------------

_MANAGERS = {
    "Справочники": "Справочник",
    "Документы": "Документ",
    "РегистрыСведений": "РегистрСведений",
    "РегистрыНакопления": "РегистрНакопления",
    "Перечисления": "Перечисление",
    "ПланыОбмена": "ПланОбмена",
    "Константы": "Константа",
    "Обработки": "Обработка",
}
_TYPE_KINDS = {
    "СправочникСсылка": "Справочник",
    "СправочникОбъект": "Справочник",
    "ДокументСсылка": "Документ",
    "ДокументОбъект": "Документ",
    "ПеречислениеСсылка": "Перечисление",
    "РегистрСведенийНаборЗаписей": "РегистрСведений",
    "ПланОбменаСсылка": "ПланОбмена",
    "ПланОбменаОбъект": "ПланОбмена",
}
_QUERY_TABLE = re.compile(
    r"(?<![\w.])(Справочник|Документ|РегистрСведений|РегистрНакопления|ПланОбмена)\.(\w+)"
    r"(?:\.(\w+))?(?:\s*\([^()]*(?:\([^()]*\)[^()]*)*\))?\s+КАК\s+(\w+)",
    re.IGNORECASE,
)
_QUERY_REF = re.compile(r"(?<![\w.])(Справочник|Документ|РегистрСведений|РегистрНакопления|Перечисление|ПланОбмена)\.(\w+)(?:\.(\w+))?")


@cache
def known_objects() -> dict[str, dict]:
    """Full name («Справочник.Контрагенты») → its entry: the UT 10.3 catalogue plus the objects we add."""
    objects = {name: entry for name, entry in ut103()["objects"].items()}
    objects.update(our_objects())
    return objects


@cache
def our_objects() -> dict[str, dict]:
    """The objects the module adds, as metadata.md describes them (the document a 1C programmer follows)."""
    from tests.bsl import metadata

    found: dict[str, dict] = {}
    for name, fields in metadata.registers().items():
        found[f"РегистрСведений.{name}"] = {"attributes": list(fields)}
    for name, values in metadata.enum_values().items():
        found[f"Перечисление.{name}"] = {"values": sorted(values)}
    for name in metadata.exchange_plans():
        found[f"ПланОбмена.{name}"] = {"attributes": []}
    found[f"Обработка.{metadata.PROCESSOR}"] = {
        "attributes": sorted(metadata.processor_attributes()),
        "tables": {metadata.PROCESSOR_TABLE: sorted(metadata.processor_table_columns())},
    }
    return found


def _object(full_name: str) -> dict | None:
    return {k.lower(): v for k, v in known_objects().items()}.get(full_name.lower())


def _kind_standard(kind: str) -> set[str]:
    return {n.lower() for n in ut103()["standard_attributes"].get(kind, [])}


def _has_field(full_name: str, table: str | None, field_name: str) -> bool:
    entry = _object(full_name)
    if entry is None:
        return False
    kind = full_name.split(".")[0]
    if table is not None:
        if table.lower() in {"изменения"}:
            return field_name.lower() in {"ссылка", "узел", "номерсообщения"}
        columns = _lower_keys(entry.get("tables", {})).get(table.lower())
        if columns is None:
            return False
        return field_name.lower() in {c.lower() for c in columns} | {"ссылка", "номерстроки"}
    names = {a.lower() for a in entry.get("attributes", [])} | _kind_standard(kind)
    names |= {t.lower() for t in entry.get("tables", {})}
    names |= {v.lower() for v in entry.get("values", [])}
    return field_name.lower() in names


def _check_reference(full: str, member: str | None) -> str | None:
    entry = _object(full)
    if entry is None:
        return f"«{full}» нет в каталоге UT 10.3 (catalogue/ut103.json) и среди наших объектов"
    if member is None:
        return None
    kind = full.split(".")[0]
    if kind == "Перечисление" and member.lower() not in {v.lower() for v in entry.get("values", [])}:
        return f"у «{full}» нет значения «{member}»"
    return None


def metadata_names(module: Module) -> list[Finding]:
    findings = []
    for node in source.walk(module.root):
        where = _where(module, node)
        if node.type == "access" and [c.type for c in node.children] == ["identifier"]:
            manager = source.text(node.children[0])
            kind = {k.lower(): v for k, v in _MANAGERS.items()}.get(manager.lower())
            dot = node.next_sibling
            if kind is None or dot is None or dot.type != "." or dot.next_sibling is None:
                continue
            if dot.next_sibling.type == "method_call":
                method = source.text(dot.next_sibling.child_by_field_name("name"))
                if method.lower() not in {m.lower() for m in platform()["manager_methods"].get(kind, [])}:
                    findings.append(Finding("metadata", where, f"{manager}.{method}(): нет такого метода менеджера"))
                continue
            name = source.text(dot.next_sibling)
            member = None
            outer = node.parent
            if kind == "Перечисление" and outer is not None and outer.next_sibling is not None:
                after = outer.next_sibling.next_sibling
                if outer.next_sibling.type == "." and after is not None and after.type == "property":
                    member = source.text(after)
            if problem := _check_reference(f"{kind}.{name}", member):
                findings.append(Finding("metadata", where, problem))
        elif node.type == "method_call" and source.text(node.child_by_field_name("name")).lower() == "тип":
            strings = [n for n in source.walk(node) if n.type == "string"]
            if not strings:
                continue
            value = source.string_value(strings[0])
            if "." not in value:
                continue
            prefix, name = value.split(".", 1)
            kind = {k.lower(): v for k, v in _TYPE_KINDS.items()}.get(prefix.lower())
            if kind is None:
                findings.append(Finding("metadata", where, f"Тип(\"{value}\"): неизвестный вид типа «{prefix}»"))
            elif problem := _check_reference(f"{kind}.{name}", None):
                findings.append(Finding("metadata", where, problem))
    for query in _queries(module):
        findings.extend(_query_findings(module, query))
    return findings


def _queries(module: Module) -> list[tuple[int, str, tuple[str, ...]]]:
    """(line, text, guards) of every query; guards are the names checked by an enclosing
    ``Если ЕстьРеквизит("…") Тогда`` (non-literal parts of the name become ``1``)."""
    found: dict[int, tuple[int, str, tuple[str, ...]]] = {}
    for node in source.walk(module.root):
        if node.type != "string" or not source.string_value(node).lstrip().upper().startswith("ВЫБРАТЬ"):
            continue
        root = source._concatenation_root(node)
        found[root.start_byte] = (root.start_point.row + 1, source._concatenated(root), _guards(root))
    return list(found.values())


def _guards(node: Node) -> tuple[str, ...]:
    guards = []
    current = node.parent
    while current is not None:
        if current.type == "if_statement":
            condition = next((c for c in current.children if c.type == "expression"), None)
            for call in source.calls(condition) if condition is not None else ():
                if call.name.lower() == "естьреквизит":
                    arguments = next(c for c in call.node.children if c.type == "arguments")
                    first = next((c for c in arguments.children if c.type == "expression"), None)
                    if first is not None:
                        guards.append(source._concatenated(first))
        current = current.parent
    return tuple(guards)


@cache
def _release_dependent() -> frozenset[tuple[str, str, str]]:
    """(object, table or "", field) of the names some UT 10.3 releases lack, lower-cased."""
    found = set()
    for name in ut103()["release_dependent"]:
        kind, obj, *rest = name.lower().split(".")
        found.add((f"{kind}.{obj}", rest[0] if len(rest) == 2 else "", rest[-1]))
    return frozenset(found)


def _query_findings(module: Module, query: tuple[int, str, tuple[str, ...]]) -> list[Finding]:
    """Findings of one query; ``#Документ#`` is tried with every document the module sends.

    A candidate document that lacks a table the query reads is not meant by the caller (the payment query
    reads РасшифровкаПлатежа, the goods query Товары); the query must fit at least one candidate with all
    its fields, else the findings of every candidate that has its tables are reported.
    """
    line, text, guards = query
    text = re.sub(r"#(?!Документ#)\w+#", "Истина", text)
    if "#Документ#" not in text:
        return _fixed_query_findings(module, line, text, guards)
    fitting = []
    for document in ut103()["sent_documents"]:
        findings = _fixed_query_findings(module, line, text.replace("#Документ#", document), guards)
        if not any("нет табличной части" in f.message for f in findings):
            fitting.append(findings)
    if not fitting:
        return [Finding("metadata", f"{module.name}:{line}", "в запросе: ни один документ не подходит к #Документ#")]
    if any(not findings for findings in fitting):
        return []
    return [finding for findings in fitting for finding in findings]


def _fixed_query_findings(module: Module, line: int, text: str, guards: tuple[str, ...] = ()) -> list[Finding]:
    where = f"{module.name}:{line}"
    findings = []
    for kind, name, member in _QUERY_REF.findall(text):
        full = f"{kind}.{name}"
        if kind.lower() == "перечисление":
            problem = _check_reference(full, member or None)
        else:
            problem = _check_reference(full, None)
            if problem is None and member and not _has_field(full, None, member) and not _has_table(full, member):
                problem = f"у «{full}» нет табличной части или реквизита «{member}»"
        if problem:
            findings.append(Finding("metadata", where, f"в запросе: {problem}"))
    aliases = {}
    for kind, name, table, alias in _QUERY_TABLE.findall(text):
        aliases[alias.lower()] = (f"{kind}.{name}", table or None)
    for alias, (full, table) in aliases.items():
        if _object(full) is None:
            continue
        for field_name in re.findall(rf"(?<![\w.]){alias}\.(\w+)", text, re.IGNORECASE):
            if table and table.lower() in _VIRTUAL:
                continue  # virtual tables (СрезПоследних, Остатки) carry dimensions and resources
            owner = f"{full}.{table}" if table else full
            if not _has_field(full, table, field_name):
                findings.append(Finding("metadata", where, f"в запросе: у «{owner}» нет поля «{field_name}»"))
            elif (full.lower(), (table or "").lower(), field_name.lower()) in _release_dependent():
                suffix = f".{table}.{field_name}" if table else f".{field_name}"
                if not any(g.lower().endswith(suffix.lower()) for g in guards):
                    findings.append(Finding(
                        "metadata", where,
                        f"в запросе: «{owner}.{field_name}» есть не во всех релизах УТ 10.3 — читайте его под "
                        "Если ЕстьРеквизит(…) или через ПолеЕслиЕсть"))
    return findings


_VIRTUAL = {"срезпоследних", "срезпервых", "остатки", "обороты", "остаткииобороты"}


def _has_table(full: str, member: str) -> bool:
    entry = _object(full)
    if member.lower() in _VIRTUAL | {"изменения"}:
        return True
    return entry is not None and member.lower() in {t.lower() for t in entry.get("tables", {})}


# --- rule: duplicate ----------------------------------------------------------------------------------


def duplicate_procedures(module: Module) -> list[Finding]:
    """Two procedures of one name (case-insensitive): the platform refuses the module («Процедура или
    функция с указанным именем уже определена»), while ``procedures`` would silently keep the last."""
    seen: dict[str, Node] = {}
    findings = []
    for node in module.root.children:
        if node.type not in ("procedure_definition", "function_definition"):
            continue
        name = source.text(node.child_by_field_name("name"))
        if name.lower() in seen:
            findings.append(Finding("duplicate", _where(module, node),
                                    f"«{name}» уже определена в строке {seen[name.lower()].start_point.row + 1}"))
        else:
            seen[name.lower()] = node
    return findings


# --- whole project ------------------------------------------------------------------------------------

RULES = (undefined_variables, unresolved_calls, metadata_names, duplicate_procedures)


def analyze(module: Module) -> list[Finding]:
    return [finding for rule in RULES for finding in rule(module)]


@cache
def project_modules() -> tuple[Module, ...]:
    """Every module of onec_outbox/bsl with what the platform makes visible in it."""
    common = {name: source.procedures(path) for name, path in source.common_module_files().items()}
    modules = []
    for path in source.bsl_files():
        name = source.module_name(path)
        module = Module(name, source.parse(path).root_node, source.procedures(path), common=common)
        relative = path.relative_to(source.BSL_DIR).parts
        if relative[0] == "DataProcessors":
            processor = our_objects()[f"Обработка.{relative[1]}"]
            module.names |= set(processor.get("attributes", [])) | set(processor.get("tables", {}))
            module.names |= set(platform()["object_module_context"])
            if "Forms" in relative:
                object_module = path.parents[2] / "ObjectModule.bsl"
                module.visible = {k: p for k, p in source.procedures(object_module).items() if p.exported}
                module.names |= set(platform()["form_module_context"])
        modules.append(module)
    return tuple(modules)
