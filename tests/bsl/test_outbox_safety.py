"""An event is never lost silently: nothing catches and swallows an error around the outbox write.

The outbox row is written inside the transaction of the change (document posting, catalog write).  If
that write fails and someone catches the error without raising it again, the transaction is broken or
the document is posted without its event — exactly the loss the outbox exists to prevent.  So every
``Исключение`` branch whose ``Попытка`` branch (directly or through our procedures) writes the outbox
must end in ``ВызватьИсключение``.
"""

from __future__ import annotations

from pathlib import Path

from tree_sitter import Node

from tests.bsl import source

ENQUEUE = ("б24мост_очередь", "поставитьвочередь")


def call_graph() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(module, procedure) → the (module, procedure) pairs it calls, for our own modules."""
    modules = {source.module_name(path).lower(): path for path in source.bsl_files()}
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for module, path in modules.items():
        for key, procedure in source.procedures(path).items():
            targets = set()
            for call in source.calls(procedure.node):
                if call.qualifier is None:
                    targets.add((module, call.name.lower()))
                elif call.qualifier.lower() in modules:
                    targets.add((call.qualifier.lower(), call.name.lower()))
            graph[(module, key)] = targets
    return graph


def outbox_writers() -> set[tuple[str, str]]:
    """ПоставитьВОчередь and every procedure that reaches it through our calls."""
    graph = call_graph()
    writers = {ENQUEUE}
    changed = True
    while changed:
        changed = False
        for caller, callees in graph.items():
            if caller not in writers and callees & writers:
                writers.add(caller)
                changed = True
    return writers


def swallowing_tries(root: Node, module: str, writers: set[tuple[str, str]]) -> list[str]:
    found = []
    for statement in source.try_statements(root):
        body, handler = source.try_parts(statement)
        writes = any(
            ((call.qualifier or module).lower(), call.name.lower()) in writers
            for part in body
            for call in source.calls(part)
        )
        if writes and not source.raises(handler):
            found.append(f"Попытка в {source.position(statement)}")
    return found


def test_the_enqueue_procedure_is_known_and_reached_from_the_subscriptions() -> None:
    writers = outbox_writers()
    assert ("б24мост_очередь", "призаписидокументапризаписи") in writers
    assert ("б24мост_первичнаявыгрузка", "выполнитьпорцию") in writers


def test_no_attempt_block_swallows_an_error_around_an_outbox_write() -> None:
    writers = outbox_writers()
    problems = []
    for path in source.bsl_files():
        module = source.module_name(path)
        problems += [
            f"{module}: {p}" for p in swallowing_tries(source.parse(path).root_node, module, writers)
        ]
    assert problems == []


def test_every_exception_branch_in_the_enqueue_module_raises_again() -> None:
    root = source.parse(source.common_module_files()["Б24Мост_Очередь"]).root_node
    for statement in source.try_statements(root):
        assert source.raises(source.try_parts(statement)[1]), source.position(statement)


def test_the_check_finds_a_swallowed_outbox_write() -> None:
    code = (
        "Процедура Т(Источник)\n"
        "\tПопытка\n"
        '\t\tБ24Мост_Очередь.ПоставитьВОчередь(Источник.Ссылка, "product", "");\n'
        "\tИсключение\n"
        '\t\tЗаписьЖурналаРегистрации("Ошибка");\n'
        "\tКонецПопытки;\n"
        "КонецПроцедуры\n"
    )
    root = source.parser("bsl").parse(code.encode()).root_node
    assert swallowing_tries(root, "Тест", outbox_writers()) == ["Попытка в строка 2, колонка 2"]


def test_the_check_accepts_a_rollback_that_raises_again() -> None:
    code = (
        "Процедура Т(Источник)\n"
        "\tНачатьТранзакцию();\n"
        "\tПопытка\n"
        '\t\tБ24Мост_Очередь.ПоставитьВОчередь(Источник.Ссылка, "product", "");\n'
        "\t\tЗафиксироватьТранзакцию();\n"
        "\tИсключение\n"
        "\t\tОтменитьТранзакцию();\n"
        "\t\tВызватьИсключение ОписаниеОшибки();\n"
        "\tКонецПопытки;\n"
        "КонецПроцедуры\n"
    )
    root = source.parser("bsl").parse(code.encode()).root_node
    assert swallowing_tries(root, "Тест", outbox_writers()) == []


def _enqueue_module() -> Path:
    return source.common_module_files()["Б24Мост_Очередь"]


def test_every_subscription_that_enqueues_skips_exchange_loads() -> None:
    """Handlers of ПриЗаписи subscriptions ask НужноРегистрировать, which checks ОбменДанными.Загрузка."""
    procedures = source.procedures(_enqueue_module())
    guard = procedures["нужнорегистрировать"]
    assert "ОбменДанными.Загрузка" in source.code_without_comments(guard.node)
    handlers = [p for key, p in procedures.items() if key.startswith("призаписи") and p.exported]
    assert len(handlers) == 4
    for handler in handlers:
        assert any(call.name == "НужноРегистрировать" for call in source.calls(handler.node)), handler.name


def test_the_enqueue_writes_without_replacing_other_rows() -> None:
    """Набор.Записать(Ложь): an insert by a fresh key, so a posting never locks or rewrites other events."""
    enqueue = source.procedures(_enqueue_module())["поставитьвочередь"]
    writes = [call for call in source.calls(enqueue.node) if call.name == "Записать"]
    assert len(writes) == 1
    assert source.text(writes[0].node).replace(" ", "") == "Записать(Ложь)"
