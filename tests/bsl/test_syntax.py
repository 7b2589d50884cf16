"""Every BSL file and every query in it parses: the first gate, since no 1C platform runs here."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bsl import source

FILES = source.bsl_files()
IDS = [source.module_name(path) for path in FILES]
QUERIES = [query for path in FILES for query in source.query_texts(path)]


def test_the_1c_module_ships_its_modules() -> None:
    assert {
        "Б24Мост_Подписки",
        "Б24Мост_ПолныеПрава",
        "Б24Мост_Сервер",
        "Б24Мост_Администрирование",
        "Б24Мост_Сериализация",
        "Б24Мост_Отправка",
        "Б24Мост_ПервичнаяВыгрузка",
    } <= set(source.common_module_files())
    assert any(path.name == "ObjectModule.bsl" for path in FILES)
    assert any(path.parent.name == "Форма" for path in FILES)


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_bsl_file_parses_without_errors_with_tree_sitter_bsl(path: Path) -> None:
    problem = source.first_problem(source.parse(path, "bsl").root_node)
    assert problem is None, (
        f"{source.module_name(path)}: синтаксическая ошибка ({'MISSING' if problem.is_missing else 'ERROR'}) "
        f"в {source.position(problem)}: {source.text(problem)[:80]!r}"
    )


@pytest.mark.parametrize("path", FILES, ids=IDS)
def test_bsl_file_parses_without_errors_with_the_newer_hbk_grammar_too(path: Path) -> None:
    problem = source.first_problem(source.parse(path, "hbk").root_node)
    assert problem is None, f"{source.module_name(path)}: ошибка в {source.position(problem)}"


def test_queries_are_found_in_the_modules() -> None:
    modules = {query.module for query in QUERIES}
    assert {
        "Б24Мост_ПолныеПрава",
        "Б24Мост_Сервер",
        "Б24Мост_Администрирование",
        "Б24Мост_Сериализация",
        "Б24Мост_Отправка",
        "Б24Мост_ПервичнаяВыгрузка",
    } <= modules
    assert len(QUERIES) >= 20


@pytest.mark.parametrize("query", QUERIES, ids=[f"{q.module}:{q.line}" for q in QUERIES])
def test_query_text_parses_as_1c_query_language(query: source.QueryText) -> None:
    prepared = source.query_for_grammar(query.text)
    problem = source.first_problem(source.parser("sdbl").parse(prepared.encode()).root_node)
    assert problem is None, (
        f"{query.module}, запрос в строке {query.line}: ошибка около "
        f"«{prepared.encode()[problem.start_byte : problem.start_byte + 60].decode(errors='replace')}»"
    )


@pytest.mark.parametrize(
    "broken",
    [
        "Процедура А()\n\tЕсли Б Тогда\n\t\tВ = 1;\nКонецПроцедуры\n",  # no КонецЕсли
        "Процедура А()\n\tВ = ;\nКонецПроцедуры\n",
        "Функция А()\n\tВозврат 1;\n",  # no КонецФункции
    ],
)
def test_the_parse_gate_rejects_broken_bsl(broken: str) -> None:
    assert source.first_problem(source.parser("bsl").parse(broken.encode()).root_node) is not None


@pytest.mark.parametrize(
    "broken",
    [
        "ВЫБРАТЬ А.Б В.Г ИЗ Справочник.Х КАК А",  # missing comma
        "ВЫБРАТЬ А.Б ИЗ Справочник.Х КАК А ГДЕ",
        "ВЫБРАТЬ А.Б ИЗ Справочник.Х КАК А УПОРЯДОЧИТЬ А.Б",  # УПОРЯДОЧИТЬ without ПО
    ],
)
def test_the_query_gate_rejects_broken_queries(broken: str) -> None:
    assert source.first_problem(source.parser("sdbl").parse(broken.encode()).root_node) is not None


def test_virtual_table_parameters_are_dropped_only_inside_the_virtual_table() -> None:
    query = "ВЫБРАТЬ Ц.Цена ИЗ РегистрСведений.ЦеныНоменклатуры.СрезПоследних(&Д, ТипЦен В (&Т)) КАК Ц ГДЕ Ц.А В (&А)"
    assert source.query_for_grammar(query) == (
        "ВЫБРАТЬ Ц.Цена ИЗ РегистрСведений.ЦеныНоменклатуры.СрезПоследних() КАК Ц ГДЕ Ц.А В (&А)"
    )
