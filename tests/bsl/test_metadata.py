"""The code and metadata.md agree: what the 1C programmer is told to create is what the code calls.

A subscription whose handler is missing, not exported or has the wrong number of parameters fails only
when the configuration is updated on the client's base; a register field used in a query but not
described fails on the first posting.  These checks catch both here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.bsl import analyzer, metadata, source

OUR_MODULES = {name.lower(): path for name, path in source.common_module_files().items()}
FORM_MODULE = source.BSL_DIR / "DataProcessors" / "Б24Мост_МониторОчереди" / "Forms" / "Форма" / "Module.bsl"
ADMIN_MODULE = source.BSL_DIR / "CommonModules" / "Б24Мост_Администрирование.bsl"
OBJECT_MODULE = source.BSL_DIR / "DataProcessors" / "Б24Мост_МониторОчереди" / "ObjectModule.bsl"

# Global context functions the module may call: the analyzer's allow-list (catalogue/platform.json), each
# with the platform version it appeared in.  A name missing there is either a typo in a call to our own
# procedure or a platform function someone should first check against 8.3.6 in compatibility mode 8.2.13.
PLATFORM_FUNCTIONS = {
    name.lower() for name, entry in analyzer.platform()["functions"].items() if analyzer._platform_function(name) is None
}

# Parameters of a handler, by event and kind of source (platform 8.2 signatures).
SIGNATURES = {
    ("ПриЗаписи", "СправочникОбъект"): 2,  # (Источник, Отказ)
    ("ПриЗаписи", "ДокументОбъект"): 2,
    ("ПриЗаписи", "РегистрСведенийНаборЗаписей"): 3,  # (Источник, Отказ, Замещение)
    ("ПередЗаписью", "СправочникОбъект"): 2,
    ("ПередУдалением", "СправочникОбъект"): 2,  # (Источник, Отказ)
    ("ПередЗаписью", "ДокументОбъект"): 4,  # (Источник, Отказ, РежимЗаписи, РежимПроведения)
    ("ПередЗаписью", "РегистрСведенийНаборЗаписей"): 3,
    ("ОбработкаПроведения", "ДокументОбъект"): 3,  # (Источник, Отказ, РежимПроведения)
    ("ОбработкаУдаленияПроведения", "ДокументОбъект"): 2,
}
FORM_SIGNATURES = {"Действие": 1, "ПриИзменении": 1, "Выбор": 4, "ПриОткрытии": 0}

SUBSCRIPTIONS = metadata.subscriptions()
JOBS = metadata.jobs()


def _procedure(module: str, name: str) -> source.Procedure | None:
    path = OUR_MODULES.get(module.lower())
    return None if path is None else source.procedures(path).get(name.lower())


def test_the_exchange_plan_carries_the_sent_objects_and_subscriptions_only_their_owners() -> None:
    composition = {name.split(".")[1] for name in metadata.exchange_plans()["Б24Мост"]}
    assert composition == {
        "Контрагенты",
        "Номенклатура",
        "ЗаказПокупателя",
        "СчетНаОплатуПокупателю",
        "ПлатежноеПоручениеВходящее",
        "ПриходныйКассовыйОрдер",
        "ОплатаОтПокупателяПлатежнойКартой",
        "РеализацияТоваровУслуг",
    }
    covered = {s.split(".")[1] for sub in SUBSCRIPTIONS for s in sub.sources}
    owners = {"КонтактныеЛицаКонтрагентов", "БанковскиеСчета", "Банки", "КонтактныеЛица", "КонтактнаяИнформация",
              "УстановкаЦенНоменклатуры", "ЕдиницыИзмерения"}
    payment_filter = {"ПлатежноеПоручениеВходящее", "ПриходныйКассовыйОрдер", "ОплатаОтПокупателяПлатежнойКартой"}
    assert covered == owners | payment_filter
    # an object of the composition gets a subscription only for the payment-kind filter (ПередЗаписью)
    for sub in SUBSCRIPTIONS:
        if {s.split(".")[1] for s in sub.sources} & composition:
            assert sub.event == "ПередЗаписью" and sub.procedure == "ПередЗаписьюОплатыПередЗаписью", sub.name
    assert {job.procedure for job in JOBS} == {"ОтправитьСобытия"}


@pytest.mark.parametrize("subscription", SUBSCRIPTIONS, ids=[s.name for s in SUBSCRIPTIONS])
def test_subscription_handler_exists_is_exported_and_takes_the_event_parameters(
    subscription: metadata.Subscription,
) -> None:
    procedure = _procedure(subscription.module, subscription.procedure)
    assert procedure is not None, f"нет процедуры {subscription.module}.{subscription.procedure}"
    assert procedure.exported, f"{procedure.name} не экспортная"
    kinds = {s.split(".")[0] for s in subscription.sources}
    assert len(kinds) == 1, f"{subscription.name}: источники разных видов {kinds}"
    expected = SIGNATURES[(subscription.event, kinds.pop())]
    assert len(procedure.params) == expected, (
        f"{procedure.name}: {len(procedure.params)} параметров, нужно {expected}"
    )
    assert procedure.node.type == "procedure_definition", "обработчик подписки — процедура, не функция"


@pytest.mark.parametrize("job", JOBS, ids=[j.name for j in JOBS])
def test_scheduled_job_method_exists_is_exported_and_takes_no_parameters(job: metadata.Job) -> None:
    procedure = _procedure(job.module, job.procedure)
    assert procedure is not None and procedure.exported
    assert procedure.params == ()


def test_every_common_module_file_is_described_and_every_described_module_exists() -> None:
    described = metadata.common_modules()
    assert set(described) == set(source.common_module_files())
    for relative in described.values():
        assert (source.BSL_DIR / relative).is_file(), relative


CALL_SITES = [
    (path, call)
    for path in source.bsl_files()
    for call in source.calls(source.parse(path).root_node)
    if call.qualifier is not None and call.qualifier.lower() in OUR_MODULES
]


@pytest.mark.parametrize(
    ("path", "call"),
    CALL_SITES,
    ids=[
        f"{source.module_name(p)}:{c.node.start_point.row + 1}:{c.qualifier}.{c.name}" for p, c in CALL_SITES
    ],
)
def test_call_into_our_module_reaches_an_exported_procedure_with_fitting_arguments(
    path: Path, call: source.Call
) -> None:
    procedure = _procedure(call.qualifier, call.name)
    assert procedure is not None, f"нет процедуры {call.qualifier}.{call.name}"
    assert procedure.exported, f"{call.qualifier}.{call.name} вызывается из другого модуля, но не экспортная"
    assert procedure.accepts(call.arguments), (
        f"{call.qualifier}.{call.name}: передано {call.arguments}, принимает {procedure.required}…{len(procedure.params)}"
    )


@pytest.mark.parametrize("path", source.bsl_files(), ids=[source.module_name(p) for p in source.bsl_files()])
def test_unqualified_calls_reach_a_local_procedure_or_a_known_platform_function(path: Path) -> None:
    local = source.procedures(path)
    visible = dict(local)
    if path == FORM_MODULE:  # an ordinary form sees the exported procedures of its object module
        visible.update({k: p for k, p in source.procedures(OBJECT_MODULE).items() if p.exported})
    problems = []
    for call in source.calls(source.parse(path).root_node):
        if call.qualifier is not None:
            continue
        procedure = visible.get(call.name.lower())
        if procedure is None:
            if call.name.lower() not in PLATFORM_FUNCTIONS:
                problems.append(f"{call.name}() в {source.position(call.node)}: не найдена")
        elif not procedure.accepts(call.arguments):
            problems.append(f"{call.name}() в {source.position(call.node)}: {call.arguments} аргументов")
    assert problems == []


def test_names_with_the_prefix_used_in_code_are_all_described() -> None:
    declared = metadata.declared_names()
    used = set()
    for path in source.bsl_files():
        root = source.parse(path).root_node
        for node in source.walk(root):
            if node.type in ("identifier", "property") and source.text(node).startswith(source.PREFIX):
                used.add(source.text(node))
        for query in source.query_texts(path):
            used.update(re.findall(rf"\.({source.PREFIX}\w+)", query.text))
        used.update(re.findall(rf'(?:РольДоступна|Роли\.Добавить)\("({source.PREFIX}\w+)"\)',
                               path.read_text(encoding="utf-8")))
    assert used - declared == set()
    assert {
        "Б24Мост_ЖурналОтправки",
        "Б24Мост_Настройки",
        "Б24Мост_СостояниеОбмена",
        "Б24Мост_СостоянияДоставки",
        "Б24Мост_Администратор",
    } <= used


def _register_fields_in_queries() -> list[tuple[str, str, str]]:
    """(query location, register, field) for every ``Алиас.Поле`` of a prefixed register in a query."""
    found = []
    for path in source.bsl_files():
        for query in source.query_texts(path):
            for register, alias in re.findall(
                rf"РегистрСведений\.({source.PREFIX}\w+)\s+КАК\s+(\w+)", query.text
            ):
                for field in re.findall(rf"(?<![\w.]){alias}\.(\w+)", query.text):
                    found.append((f"{query.module}:{query.line}", register, field))
    return found


def test_register_fields_used_in_queries_are_described() -> None:
    registers = metadata.registers()
    uses = _register_fields_in_queries()
    assert len(uses) > 25
    unknown = [u for u in uses if u[2] not in registers.get(u[1], {})]
    assert unknown == []


_RECORD = re.compile(
    rf"(\w+)\s*=\s*РегистрыСведений\.({source.PREFIX}\w+)\.(?:СоздатьМенеджерЗаписи|СоздатьНаборЗаписей)\(\)"
)
_ADDED = re.compile(r"(\w+)\s*=\s*(\w+)\.Добавить\(\)")
_RECORD_METHODS = {
    "Прочитать",
    "Записать",
    "Выбран",
    "Удалить",
    "Добавить",
    "Отбор",
    "Количество",
    "ОбменДанными",
    "ДополнительныеСвойства",
    "Очистить",
}


def test_fields_of_record_managers_and_record_sets_are_described() -> None:
    registers = metadata.registers()
    unknown = []
    checked = 0
    for path in source.bsl_files():
        for procedure in source.procedures(path).values():
            code = source.code_without_comments(procedure.node)
            variables = {var: register for var, register in _RECORD.findall(code)}
            for var, owner in _ADDED.findall(code):
                if owner in variables:
                    variables[var] = variables[owner]
            for var, register in variables.items():
                fields = registers[register]
                for field in re.findall(rf"(?<![\w.]){var}\.(\w+)", code):
                    checked += 1
                    if field not in fields and field not in _RECORD_METHODS:
                        unknown.append(f"{procedure.name}: {var}.{field} ({register})")
                for field in re.findall(rf"(?<![\w.]){var}\.Отбор\.(\w+)", code):
                    if fields.get(field) != "Измерение":
                        unknown.append(f"{procedure.name}: отбор по {field}, а это не измерение {register}")
    assert checked > 30
    assert unknown == []


def test_enum_values_used_in_code_and_queries_are_described() -> None:
    values = metadata.enum_values()
    used = set()
    for path in source.bsl_files():
        text = path.read_text(encoding="utf-8")
        used.update(re.findall(rf"Перечислени[ея]\.({source.PREFIX}\w+)\.(\w+)", text))
    assert used
    assert {(enum, value) for enum, value in used if value not in values.get(enum, set())} == set()
    # the sender and the log pick a state by name (Перечисления.Б24Мост_СостоянияДоставки[Запись.Состояние])
    by_name = set()
    for name in ("Б24Мост_Отправка", "Б24Мост_Сервер"):
        code = source.common_module_files()[name].read_text(encoding="utf-8")
        by_name |= set(re.findall(r'Состояние = "(\w+)"', code))
        by_name |= set(re.findall(r'ТипСущности, "(\w+)", ""', code))
    assert by_name == values["Б24Мост_СостоянияДоставки"]


FORM_HANDLERS = sorted(metadata.form_handlers().items())


@pytest.mark.parametrize(("name", "event"), FORM_HANDLERS, ids=[h[0] for h in FORM_HANDLERS])
def test_form_handler_named_in_metadata_exists_with_the_event_signature(name: str, event: str) -> None:
    procedure = source.procedures(FORM_MODULE).get(name.lower())
    assert procedure is not None, f"в модуле формы нет {name}"
    assert len(procedure.params) == FORM_SIGNATURES[event]


def test_form_elements_used_in_code_are_described() -> None:
    code = FORM_MODULE.read_text(encoding="utf-8")
    used = set(re.findall(r"ЭлементыФормы\.(\w+)", code))
    assert used and used <= metadata.form_elements()


def test_table_columns_used_by_the_monitor_are_described() -> None:
    columns = metadata.processor_table_columns()
    object_code = OBJECT_MODULE.read_text(encoding="utf-8")
    form_code = FORM_MODULE.read_text(encoding="utf-8")
    used = set(re.findall(r"НоваяСтрока\.(\w+)", object_code))
    used |= set(re.findall(r"(?:ТекущиеДанные|ВыбраннаяСтрока)\.(\w+)", form_code))
    # the rows come from Б24Мост_Администрирование.Журнал: its structure fills the columns by name
    journal = source.code_without_comments(source.procedures(ADMIN_MODULE)["журнал"].node)
    fields = re.search(r'ЗаписьЖурнала = Новый Структура\("([^)]*)"\)', journal.replace('"\n\t\t\t+ "', "").replace('" + "', ""))
    assert fields is not None
    used |= {f.strip() for f in fields.group(1).split(",")} | {"Объект"}
    assert used and used <= columns


SERVICE_SETTINGS = {"Включено", "СтрокаСоединенияБазы"}  # changed only by switching the exchange on/off


def _settings() -> set[str]:
    return {name for name, kind in metadata.registers()["Б24Мост_Настройки"].items() if kind == "Ресурс"}


def test_every_setting_is_a_monitor_attribute_and_is_saved_by_it() -> None:
    settings = _settings()
    assert settings - {"СтрокаСоединенияБазы"} <= metadata.processor_attributes()
    names = source.procedures(OBJECT_MODULE)["именанастроек"]
    saved = set(re.findall(r"\w+", "".join(re.findall(r'"([^"]*)"', source.code_without_comments(names.node)))))
    assert saved == settings - SERVICE_SETTINGS


def test_every_setting_is_read_with_a_default() -> None:
    """Б24Мост_Сервер.ПрочитатьНастройки selects every setting and gives each a default value."""
    read = source.procedures(source.common_module_files()["Б24Мост_Сервер"])["прочитатьнастройки"]
    code = source.code_without_comments(read.node)
    assert set(re.findall(r"Н\.(\w+) КАК", code)) == _settings()
    assert set(re.findall(r'Настройки\.Вставить\("(\w+)"', code)) == _settings()
