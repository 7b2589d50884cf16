"""A change is never lost silently, a user never fails because of the module, and the sender cannot jam.

Registration on the exchange plan node happens in the transaction of the change (the platform does it for
the objects of the plan's composition; subscriptions do it for owners).  These checks read the syntax
trees: no ``Исключение`` branch swallows an error around a registration; the subscription module reads
nothing but the object being written and does nothing while the exchange is off; the modules that hold
the token cannot be called from a client, and the one that can checks the administrator role; the sender
locks the node, fixes the message number before selecting, never calls HTTP inside a transaction, splits a
refused batch, and returns unaccepted registrations before deleting by number.
"""

from __future__ import annotations

import re

from tree_sitter import Node

from onec_outbox.contract import Heartbeat
from tests.bsl import metadata, source

REGISTER = ("планыобмена", "зарегистроватьизменения")
MODULES = source.common_module_files()


def _module(name: str) -> dict[str, source.Procedure]:
    return source.procedures(MODULES[name])


def call_graph() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(module, procedure) → the (module, procedure) pairs it calls; platform managers kept as qualifiers."""
    modules = {source.module_name(path).lower(): path for path in source.bsl_files()}
    graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for module, path in modules.items():
        for key, procedure in source.procedures(path).items():
            targets = set()
            for call in source.calls(procedure.node):
                if call.qualifier is None:
                    targets.add((module, call.name.lower()))
                elif call.qualifier != "…":
                    targets.add((call.qualifier.lower(), call.name.lower()))
            graph[(module, key)] = targets
    return graph


def registration_writers() -> set[tuple[str, str]]:
    """Every procedure that registers a change on the node, directly or through our calls."""
    graph = call_graph()
    writers = {("планыобмена", "зарегистрироватьизменения")}
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


def test_registration_is_reached_from_the_subscriptions_and_the_initial_export() -> None:
    writers = registration_writers()
    assert ("б24мост_подписки", "призаписиконтактнойинформациипризаписи") in writers
    assert ("б24мост_подписки", "призаписиустановкиценпризаписи") in writers
    assert ("б24мост_первичнаявыгрузка", "выполнитьполностью") in writers


def test_no_attempt_block_swallows_an_error_around_a_registration() -> None:
    writers = registration_writers()
    problems = []
    for path in source.bsl_files():
        module = source.module_name(path)
        problems += [f"{module}: {p}" for p in swallowing_tries(source.parse(path).root_node, module, writers)]
    assert problems == []


def test_the_check_finds_a_swallowed_registration() -> None:
    code = (
        "Процедура Т(Узел, Источник)\n"
        "\tПопытка\n"
        "\t\tПланыОбмена.ЗарегистрироватьИзменения(Узел, Источник.Владелец);\n"
        "\tИсключение\n"
        '\t\tЗаписьЖурналаРегистрации("Ошибка");\n'
        "\tКонецПопытки;\n"
        "КонецПроцедуры\n"
    )
    root = source.parser("bsl").parse(code.encode()).root_node
    assert swallowing_tries(root, "Тест", registration_writers()) == ["Попытка в строка 2, колонка 2"]


# --- subscriptions: no rights needed, nothing while off ---------------------------------------------------

_DATA_ACCESS = re.compile(r"\b(Запрос|РегистрыСведений|Справочники|Документы|Константы|ПланыОбмена)\b")


def subscription_problems(procedures: dict[str, source.Procedure]) -> list[str]:
    """A handler must read only its source and ask the privileged module for everything else, and must
    return at once while there is no bridge node (УзелДляРегистрации() = Неопределено).  It asks for the
    node to register on, not for «exchange on» (УзелМоста): the platform goes on registering the plan's
    own objects while the exchange is switched off, and an owner change skipped then would never reach
    Bitrix24 after switching on again."""
    problems = []
    for procedure in procedures.values():
        code = source.code_without_comments(procedure.node)
        if match := _DATA_ACCESS.search(code):
            problems.append(f"{procedure.name}: обращается к данным ({match.group(1)}) с правами пользователя")
        if procedure.exported:
            guard = re.search(r"Узел = Б24Мост_ПолныеПрава\.УзелДляРегистрации\(\);\s*Если Узел = Неопределено Тогда\s*Возврат;", code)
            if guard is None:
                problems.append(f"{procedure.name}: не берёт узел для регистрации (УзелДляРегистрации) "
                                "или не выходит сразу, пока узла нет")
            else:
                before = code[: guard.start()]
                if re.search(r"\w+\s*\(", re.sub(r"Процедура \w+\(", "", before).replace("Если Отказ", "")):
                    problems.append(f"{procedure.name}: что-то вызывает до проверки «обмен включён»")
    return problems


def test_subscription_handlers_read_only_their_source_and_do_nothing_while_the_exchange_is_off() -> None:
    procedures = _module("Б24Мост_Подписки")
    handlers = {s.procedure.lower() for s in metadata.subscriptions()}
    assert handlers <= {k for k, p in procedures.items() if p.exported}
    assert subscription_problems(procedures) == []


def test_owner_registration_goes_on_while_the_exchange_is_switched_off() -> None:
    """«Выключить обмен» keeps the node, and the platform keeps registering the plan's own objects; the
    owners (phones, bank accounts, contact persons, prices) must be registered too, or a phone changed
    while the exchange was off never reaches Bitrix24 after it is switched on again.  So the node the
    subscriptions register on does not depend on the «Включено» setting; only sending does."""
    privileged = _module("Б24Мост_ПолныеПрава")
    node = source.code_without_comments(privileged["узелдлярегистрации"].node)
    assert "Включено" not in node and "Б24Мост_Настройки" not in node
    assert "НайтиПоКоду(КодУзлаМоста())" in node
    for name in ("зарегистрироватьконтрагентов", "зарегистрироватьноменклатуруцен"):
        code = source.code_without_comments(privileged[name].node)
        assert "Узел <> УзелДляРегистрации()" in code, name
    subscriptions = source.code_without_comments(source.parse(MODULES["Б24Мост_Подписки"]).root_node)
    assert "УзелМоста(" not in subscriptions
    # the sender still stops while the exchange is off
    run = source.code_without_comments(_module("Б24Мост_Отправка")["выполнитьотправку"].node)
    assert "Узел = Б24Мост_ПолныеПрава.УзелМоста();" in run


def test_the_subscription_check_finds_a_settings_read_with_user_rights_and_a_missing_off_switch() -> None:
    code = (
        "Процедура ПриЗаписиПриЗаписи(Источник, Отказ) Экспорт\n"
        '\tНастройки = РегистрыСведений.Б24Мост_Настройки.Получить();\n'
        "\tБ24Мост_ПолныеПрава.ЗарегистрироватьКонтрагентов(Неопределено, Источник.Владелец);\n"
        "КонецПроцедуры\n"
    )
    root = source.parser("bsl").parse(code.encode()).root_node
    procedures = {}
    for node in root.children:
        name = source.text(node.child_by_field_name("name"))
        procedures[name.lower()] = source.Procedure("Т", name, (), True, node)
    assert len(subscription_problems(procedures)) == 2


def test_owner_subscriptions_do_not_skip_exchange_loads() -> None:
    """РИБ and the БП exchange write contact information with ОбменДанными.Загрузка = Истина: it must
    still reach Bitrix24 (the platform registers the composition objects regardless of Загрузка)."""
    code = source.code_without_comments(source.parse(MODULES["Б24Мост_Подписки"]).root_node)
    assert "Загрузка" not in code


def test_the_privileged_module_of_the_subscriptions_registers_only_objects_of_the_composition() -> None:
    composition = {name.split(".")[1] for name in metadata.exchange_plans()["Б24Мост"]}
    code = source.code_without_comments(source.parse(MODULES["Б24Мост_ПолныеПрава"]).root_node)
    registered = re.findall(r"ПланыОбмена\.ЗарегистрироватьИзменения\(Узел, (\w+(?:\.\w+)?)\)", code)
    assert sorted(registered) == ["Контрагент", "Объект", "СтрокаТовара.Номенклатура"]
    # Контрагент comes only through ДобавитьКонтрагента, which accepts nothing but Контрагенты
    procedures = source.procedures(MODULES["Б24Мост_ПолныеПрава"])
    assert 'Тип("СправочникСсылка.Контрагенты")' in source.code_without_comments(procedures["добавитьконтрагента"].node)
    # Объект (a unit's owner) only when it is a Номенклатура: a client may pass anything to this module
    units = source.code_without_comments(procedures["зарегистрироватьноменклатуру"].node)
    assert 'ТипЗнч(Объект) <> Тип("СправочникСсылка.Номенклатура")' in units
    assert {"Контрагенты", "Номенклатура"} <= composition


# --- secrets: who can call what ---------------------------------------------------------------------------

def _flags() -> dict[str, dict[str, str]]:
    rows = metadata.section("6. Общие модули").tables[0]
    names = ["client", "server", "external", "server_call", "privileged", "global"]
    return {metadata.unquote(r[0]): dict(zip(names, r[2:])) for r in rows}


def test_modules_holding_the_token_cannot_be_called_from_a_client() -> None:
    flags = _flags()
    for module in ("Б24Мост_Сервер", "Б24Мост_Отправка", "Б24Мост_Сериализация"):
        assert flags[module]["server_call"] == "нет" and flags[module]["client"] == "нет", module
    # the privileged module every user's session calls never touches the token
    code = source.code_without_comments(source.parse(MODULES["Б24Мост_ПолныеПрава"]).root_node)
    assert "Токен" not in code and "ПрочитатьНастройки" not in code
    client_privileged = {m for m, f in flags.items() if f["server_call"] == "да" and f["privileged"] == "да"}
    assert client_privileged == {"Б24Мост_ПолныеПрава", "Б24Мост_Администрирование"}


def test_every_export_of_the_client_callable_privileged_admin_module_checks_the_role() -> None:
    missing = [
        p.name
        for p in _module("Б24Мост_Администрирование").values()
        if p.exported and not any(c.name == "ТребоватьАдминистратора" for c in source.calls(p.node))
    ]
    assert missing == []


def test_no_privileged_module_asks_role_available() -> None:
    """In privileged mode РольДоступна() answers Истина for any role, so a role check there lets every user
    through (the monitor's module could then write the bridge's address and send the token anywhere): the
    admin check reads the roles of the infobase user instead."""
    for module, flag in _flags().items():
        if flag["privileged"] != "да":
            continue
        calls = {c.name.lower() for p in _module(module).values() for c in source.calls(p.node)}
        assert "рольдоступна" not in calls, module
    check = source.code_without_comments(_module("Б24Мост_Администрирование")["требоватьадминистратора"].node)
    assert "ПользователиИнформационнойБазы.ТекущийПользователь()" in check and "Роли.Содержит(" in check


def test_the_settings_read_for_the_form_blanks_the_token() -> None:
    code = source.code_without_comments(_module("Б24Мост_Администрирование")["настройкидляформы"].node)
    assert 'Настройки.Токен = "";' in code and 'Настройки.ПроксиПароль = "";' in code


# --- sender -----------------------------------------------------------------------------------------------

def test_a_refused_request_shows_the_bridges_message_and_code_not_its_json() -> None:
    """The ingest refuses a whole request as {"error", "message"} (400, 413, 415); the monitor shows the one
    event left after the halving with that message and code, as it shows an event's own errors."""
    sender = _module("Б24Мост_Отправка")
    split = source.code_without_comments(sender["отправитьсделением"].node)
    assert "ТекстОтказаМоста(Ответ.Тело)" in split and "Лев(Ответ.Тело" not in split
    text = source.code_without_comments(sender["текстотказамоста"].node)
    assert 'Данные["message"]' in text and 'Данные["error"]' in text and "Лев(Тело, 1000)" in text


def _order(code: str, *needles: str) -> list[int]:
    return [code.find(n) for n in needles]


def test_the_sender_locks_the_node_before_the_cycle_and_fixes_the_message_number_before_selecting() -> None:
    sender = _module("Б24Мост_Отправка")
    run = source.code_without_comments(sender["выполнитьотправку"].node)
    lock, cycle = _order(run, "ОбъектУзла.Заблокировать()", "ЦиклОтправки(")
    assert 0 <= lock < cycle
    loop = source.code_without_comments(sender["циклотправки"].node)
    number, write, select = _order(loop, "НомерОтправленного + 1", "ОбъектУзла.Записать()", "ОтправитьТип(")
    assert 0 <= number < write < select


def http_inside_transactions(procedures: dict[str, source.Procedure]) -> list[str]:
    """HTTP (ОтправитьHTTP/ОтправитьДляОбработки) between НачатьТранзакцию and its commit would hold locks
    on user data for the length of a network call."""
    found = []
    for procedure in procedures.values():
        code = source.code_without_comments(procedure.node)
        for block in re.findall(r"НачатьТранзакцию\(\);(.*?)(?:ЗафиксироватьТранзакцию|ОтменитьТранзакцию)\(\)", code, re.S):
            if re.search(r"ОтправитьHTTP|ОтправитьДляОбработки|ОтправитьСДелением|ОтправитьПакет", block):
                found.append(procedure.name)
    return found


def test_no_http_call_runs_inside_a_transaction() -> None:
    assert http_inside_transactions(_module("Б24Мост_Отправка")) == []
    code = "Процедура Т()\n\tНачатьТранзакцию();\n\tОтправитьHTTP(1, 2);\n\tЗафиксироватьТранзакцию();\nКонецПроцедуры\n"
    root = source.parser("bsl").parse(code.encode()).root_node
    broken = {"т": source.Procedure("Т", "Т", (), False, root.children[0])}
    assert http_inside_transactions(broken) == ["Т"]


def test_each_snapshot_is_built_in_its_own_transaction() -> None:
    code = source.code_without_comments(_module("Б24Мост_Отправка")["новыйэлемент"].node)
    begin, build, commit = _order(code, "НачатьТранзакцию()", "Б24Мост_Сериализация.СобытиеОбъекта(", "ЗафиксироватьТранзакцию()")
    assert 0 <= begin < build < commit


def test_a_catalog_group_is_acknowledged_without_a_snapshot_or_a_journal_row() -> None:
    """Counterparty and product groups are in the plan's composition too (a group write registers like an
    element).  Their snapshot query skips groups, which used to journal every group as «Пропущено: объект
    удалён из базы» — a false deletion in front of the administrator."""
    code = source.code_without_comments(_module("Б24Мост_Отправка")["новыйэлемент"].node)
    group, version = _order(code, "Данные.ЭтоГруппа", "Ход.Версия = СледующаяВерсия(")
    assert 0 <= group < version
    branch = code[group:version]
    assert "Ход.Принятые.Вставить(Ссылка, Истина)" in branch and "ЗаписатьВЖурнал" not in branch


def test_a_refused_batch_is_split_down_to_the_offending_event() -> None:
    code = source.code_without_comments(_module("Б24Мост_Отправка")["отправитьсделением"].node)
    assert re.search(r"Код = 400 ИЛИ Код = 413 ИЛИ Код = 415", code)
    assert code.count("ОтправитьСДелением(Ход, Левая)") == 1 and code.count("ОтправитьСДелением(Ход, Правая)") == 1
    assert "Элементы.Количество() = 1" in code


def test_acknowledgement_returns_unaccepted_rows_before_deleting_by_number() -> None:
    code = source.code_without_comments(_module("Б24Мост_Отправка")["подтвердить"].node)
    back, delete = _order(code, "ПланыОбмена.ЗарегистрироватьИзменения(Узел, СтрокаРезультата.Ссылка)",
                          "ПланыОбмена.УдалитьРегистрациюИзменений(Узел, НомерСообщения)")
    assert 0 <= back < delete
    assert "Новый УдалениеОбъекта(" in code  # a deleted object goes back as a deletion


def test_the_sender_walks_exactly_the_composition_of_the_exchange_plan() -> None:
    code = source.code_without_comments(_module("Б24Мост_Отправка")["порядокотправки"].node)
    walked = re.findall(r"Метаданные\.(Справочники|Документы)\.(\w+), \"(\w+)\"", code)
    kinds = {"Справочники": "Справочник", "Документы": "Документ"}
    sent = {(f"{kinds[k]}.{n}", e) for k, n, e in walked}
    composition = {(metadata.unquote(r[0]), r[2].strip()) for r in metadata.section("1. План обмена").tables[0]}
    assert sent == composition
    # catalogs before documents: the company and the product exist in Bitrix24 before the deal
    assert [k for k, _, _ in walked] == sorted((k for k, _, _ in walked), key=lambda k: k != "Справочники")


def test_every_cycle_acknowledges_so_rows_stamped_by_a_crashed_cycle_return_to_the_queue() -> None:
    """Portions select only NULL-stamped registrations; rows stamped by an interrupted cycle come back only
    through the acknowledgement, so it must run unconditionally (at the procedure's top level)."""
    code = _module("Б24Мост_Отправка")["циклотправки"].node.text.decode()
    assert re.search(r"^\tПодтвердить\(Узел, НомерСообщения, Ход\.Принятые\);", code, re.M)


def test_switching_on_checks_the_platform_and_remembers_this_infobase_and_the_sender_checks_it() -> None:
    server = _module("Б24Мост_Сервер")
    switch_on = source.code_without_comments(server["включитьобмен"].node)
    check, node, remember = _order(switch_on, "ПроверитьПлатформу(", "СоздатьУзел()",
                                   "СтрокаСоединенияБазы = СтрокаСоединенияИнформационнойБазы()")
    assert 0 <= check < node < remember
    platform = source.code_without_comments(server["проверитьплатформу"].node)
    assert "8003006" in platform  # 8.3.6 as major·10⁶ + minor·10³ + release
    run = source.code_without_comments(_module("Б24Мост_Отправка")["выполнитьотправку"].node)
    guard, lock = _order(run, "Б24Мост_Сервер.ПроверкаКопииБазы(Настройки)", "ОбъектУзла.Заблокировать()")
    assert 0 <= guard < lock
    copy_guard = source.code_without_comments(server["проверкакопиибазы"].node)
    assert "СтрокаСоединенияИнформационнойБазы()" in copy_guard


# --- heartbeat -----------------------------------------------------------------------------------------


def test_the_heartbeat_sends_exactly_the_fields_the_bridge_validates() -> None:
    body = _module("Б24Мост_Отправка")["отправитьпульс"].node
    sent = set(re.findall(r'Пульс\.Вставить\("(\w+)"', source.text(body)))
    assert sent == set(Heartbeat.model_fields)
    assert '"/v1/heartbeat"' in source.text(body)


def test_the_heartbeat_never_fails_the_run() -> None:
    body = _module("Б24Мост_Отправка")["отправитьпульс"].node
    statements = [c for c in body.children if c.type.endswith("statement")]
    assert [s.type for s in statements] == ["try_statement"], "everything the heartbeat does sits in one Попытка"
    _, handler = source.try_parts(statements[0])
    assert not source.raises(handler)


def test_every_run_that_passed_the_copy_check_posts_its_heartbeat_and_only_the_locked_one_writes_state() -> None:
    run = _module("Б24Мост_Отправка")["выполнитьотправку"].node
    code = source.code_without_comments(run)
    posts = re.findall(r"ОтправитьПульс\(Узел, Настройки, (Истина|Ложь)\)", code)
    assert posts == ["Ложь", "Ложь", "Истина"]  # paused by setting, pausing after errors, after a cycle
    assert code.index("ПроверкаКопииБазы") < code.index("ОтправитьПульс")  # a copy never speaks for the base
    assert code.index("ОтправитьПульс(Узел, Настройки, Истина)") < code.index("ОбъектУзла.Разблокировать();\n\tВозврат")
