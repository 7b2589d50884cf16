"""The static analyzer (tests/bsl/analyzer.py): a clean run over every module, and each rule failing on a
broken snippet, starting with the expert review's blocker (``АдресИзЗаписи(Выборка)`` with no ``Выборка``)."""

from __future__ import annotations

import pytest

from tests.bsl import analyzer, source

MODULES = analyzer.project_modules()


@pytest.mark.parametrize("module", MODULES, ids=[m.name for m in MODULES])
def test_every_module_is_clean(module: analyzer.Module) -> None:
    assert [str(f) for f in analyzer.analyze(module)] == []


def _findings(code: str, rule: str) -> list[str]:
    common = {name: source.procedures(path) for name, path in source.common_module_files().items()}
    module = analyzer.module_from_text(code, common=common)
    return [str(f) for f in analyzer.analyze(module) if f.rule == rule]


# --- undefined ---


def test_the_review_blocker_an_unassigned_variable_is_found() -> None:
    code = """
Функция КонтактнаяИнформация(Объекты) Экспорт
	Для Каждого СтрокаРезультата Из Объекты Цикл
		Адрес = АдресИзЗаписи(Выборка);
	КонецЦикла;
	Возврат Адрес;
КонецФункции

Функция АдресИзЗаписи(Запись)
	Возврат Запись;
КонецФункции
"""
    found = _findings(code, "undefined")
    assert len(found) == 1 and "«Выборка»" in found[0] and "Фрагмент:4" in found[0]


def test_a_variable_read_before_its_first_assignment_is_found() -> None:
    code = "Процедура П()\n\tА = Б + 1;\n\tБ = 2;\nКонецПроцедуры\n"
    assert len(_findings(code, "undefined")) == 1


def test_assigned_params_module_variables_loop_variables_and_globals_are_defined() -> None:
    code = """
Перем КэшМодуля;
Функция П(Параметр, Необязательный = 1)
	Х = Параметр + Необязательный + КэшМодуля;
	Для Каждого Элемент Из Параметр Цикл Х = Х + Элемент; КонецЦикла;
	Для Счетчик = 1 По 3 Цикл Х = Х + Счетчик; КонецЦикла;
	Перем Локальная;
	Локальная = Справочники.Контрагенты.ПустаяСсылка();
	Возврат Х + Б24Мост_Сериализация.Деньги(1);
КонецФункции
"""
    assert _findings(code, "undefined") == []


def test_an_assignment_does_not_define_the_name_for_its_own_right_side() -> None:
    assert len(_findings("Процедура П()\n\tХ = Х + 1;\nКонецПроцедуры\n", "undefined")) == 1


# --- call ---


def test_a_call_to_a_missing_procedure_is_found() -> None:
    found = _findings("Процедура П()\n\tПоставитьВОчередьВсе(1);\nКонецПроцедуры\n", "call")
    assert len(found) == 1 and "ПоставитьВОчередьВсе" in found[0]


def test_a_call_with_the_wrong_number_of_arguments_is_found() -> None:
    code = "Процедура П()\n\tФ(1, 2, 3);\nКонецПроцедуры\nФункция Ф(А, Б = 1)\n\tВозврат А;\nКонецФункции\n"
    found = _findings(code, "call")
    assert len(found) == 1 and "3 аргументов" in found[0]


def test_a_call_into_our_module_must_reach_an_exported_procedure_with_fitting_arguments() -> None:
    code = "Процедура П()\n\tБ24Мост_Сериализация.Деньги(1, 2, 3);\n\tБ24Мост_Сериализация.НетТакой();\nКонецПроцедуры\n"
    assert len(_findings(code, "call")) == 2


@pytest.mark.parametrize(
    ("call", "why"),
    [
        ('Х = СтрНайти(А, ",");', "8.2.13"),
        ("ВызватьПаузу(5);", "8.3.25"),
        ("Х = ПолучитьНавигационнуюСсылку(А);", "catalogue/platform.json"),
    ],
)
def test_a_platform_function_newer_than_8_3_6_hidden_in_8_2_13_or_not_allow_listed_is_found(
    call: str, why: str
) -> None:
    found = _findings(f"Процедура П(А)\n\t{call}\nКонецПроцедуры\n", "call")
    assert len(found) == 1 and why in found[0]


def test_an_unknown_or_too_new_type_in_new_is_found() -> None:
    code = "Процедура П()\n\tА = Новый HTTPКлиент();\n\tБ = Новый Структура;\nКонецПроцедуры\n"
    found = _findings(code, "call")
    assert len(found) == 1 and "HTTPКлиент" in found[0]


def test_every_allow_listed_function_says_its_version() -> None:
    functions = analyzer.platform()["functions"]
    assert len(functions) > 50
    assert all(analyzer.version(entry["since"]) >= (8, 0) for entry in functions.values())
    assert analyzer._platform_function("ЗаписатьJSON") is None  # 8.3.6, visible in 8.2.13


# --- metadata ---


@pytest.mark.parametrize(
    "code",
    [
        "Х = Справочники.Контрагентыы.ПустаяСсылка();",
        "Х = Перечисления.ЮрФизЛицо.ИндивидуальныйПредприниматель;",
        'Х = Тип("ДокументСсылка.ЗаказКлиента");',
        'Х = Новый Запрос("ВЫБРАТЬ К.ИННН КАК ИНН ИЗ Справочник.Контрагенты КАК К");',
        'Х = Новый Запрос("ВЫБРАТЬ Т.Скидка ИЗ Документ.ЗаказПокупателя.Товары КАК Т");',
        'Х = Новый Запрос("ВЫБРАТЬ Т.Ссылка ИЗ Документ.ЗаказПокупателя.Продукция КАК Т");',
    ],
)
def test_a_metadata_name_missing_from_the_catalogue_is_found(code: str) -> None:
    assert _findings(f"Процедура П()\n\t{code}\nКонецПроцедуры\n", "metadata"), code


def test_names_of_the_catalogue_and_of_our_objects_resolve() -> None:
    code = """
Процедура П()
	Х = Перечисления.ЮрФизЛицо.ФизЛицо;
	Х = Тип("СправочникОбъект.БанковскиеСчета");
	Х = Новый Запрос("ВЫБРАТЬ Т.Номенклатура ИЗ Документ.РеализацияТоваровУслуг.Товары КАК Т ГДЕ Т.Ссылка = &С");
	Х = РегистрыСведений.Б24Мост_Настройки.СоздатьМенеджерЗаписи();
КонецПроцедуры
"""
    assert _findings(code, "metadata") == []


def test_the_catalogue_says_what_it_was_checked_against() -> None:
    catalogue = analyzer.ut103()
    assert "10.3" in catalogue["checked_against"]
    for name in catalogue["release_dependent"]:
        kind, obj, *rest = name.split(".")
        entry = catalogue["objects"][f"{kind}.{obj}"]
        if len(rest) == 1:
            assert rest[0] in entry["attributes"], name
        else:
            assert rest[1] in entry["tables"][rest[0]], name


def test_a_release_dependent_attribute_read_without_the_helper_is_found() -> None:
    query = (
        'Запрос = Новый Запрос("ВЫБРАТЬ Т.ЗаказПокупателя ИЗ Документ.РеализацияТоваровУслуг.Товары КАК Т '
        'ГДЕ Т.Ссылка = &С");'
    )
    bare = f"Процедура П()\n\t{query}\nКонецПроцедуры\n"
    found = _findings(bare, "metadata")
    assert len(found) == 1 and "не во всех релизах" in found[0]
    guarded = (
        "Процедура П(ИмяДокумента)\n"
        '\tЕсли Б24Мост_Сериализация.ЕстьРеквизит("Документ." + ИмяДокумента + ".Товары.ЗаказПокупателя") Тогда\n'
        f"\t\t{query}\n\tКонецЕсли;\nКонецПроцедуры\n"
    )
    assert _findings(guarded, "metadata") == []


def test_names_whose_version_was_not_confirmed_are_compiled_by_step_1_of_the_guide() -> None:
    names = analyzer.platform()["verify_on_platform"]["names"]
    step_1 = next(line for line in source.GUIDE.read_text(encoding="utf-8").splitlines() if line.startswith("| 1 |"))
    assert names and all(f"`{name}`" in step_1 for name in names)


# --- duplicate ---


def test_a_procedure_defined_twice_is_found() -> None:
    code = "Функция Ф()\n\tВозврат 1;\nКонецФункции\n\nфункция ф()\n\tВозврат 2;\nКонецФункции\n"
    found = _findings(code, "duplicate")
    assert len(found) == 1 and "Фрагмент:5" in found[0] and "строке 1" in found[0]
