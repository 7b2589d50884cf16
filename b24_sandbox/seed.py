"""What a fresh Russian cloud portal already holds before anyone calls it.

Requisite presets (the system ones with their reserved ``#CRM_REQUISITE_PRESET_DEF_RU_…#`` XML_IDs), the
default deal funnel (id 0) with its eight stages, the stock status lists, a few users, the CRM product
catalog (iblock 25, offers iblock 27) and the base price type (id 1, ``BASE``).
"""

from __future__ import annotations

from datetime import timezone

from . import values
from .store import Store

PRESETS = (
    (1, "Организация", "#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#", 1),
    (2, "ИП", "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#", 1),
    (3, "Физ. лицо", "#CRM_REQUISITE_PRESET_DEF_RU_PERSON#", 1),
    (4, "Организация (доп.)", None, 1),
)

DEFAULT_STAGES = (
    ("NEW", "Новая", 10, None, "#39A8EF"),
    ("PREPARATION", "Подготовка документов", 20, None, "#2FC6F6"),
    ("PREPAYMENT_INVOICE", "Счёт на предоплату", 30, None, "#55D0E0"),
    ("EXECUTING", "В работе", 40, None, "#47E4C2"),
    ("FINAL_INVOICE", "Финальный счёт", 50, None, "#FFA900"),
    ("WON", "Сделка успешна", 60, "S", "#7BD500"),
    ("LOSE", "Сделка провалена", 70, "F", "#FF5752"),
    ("APOLOGY", "Анализ причины провала", 80, "F", "#FF5752"),
)

# The stock lists as the crm module's installer fills them (``CCrmStatus::InstallDefault`` and
# ``crm/install/index.php``): (STATUS_ID, a Russian portal's name from the module's ``lang/ru`` files[, SORT]);
# SORT is 10, 20, … unless given.
STATUS_LISTS = {
    "COMPANY_TYPE": (("CUSTOMER", "Клиент"), ("SUPPLIER", "Поставщик"), ("COMPETITOR", "Конкурент"),
                     ("PARTNER", "Партнер"), ("OTHER", "Другое")),
    "CONTACT_TYPE": (("CLIENT", "Клиенты"), ("SUPPLIER", "Поставщики"), ("PARTNER", "Партнеры"),
                     ("OTHER", "Другое")),
    # CCrmStatus::GetDefaultSources, the list RU crm-lead-add.md prints as a portal's default sources
    "SOURCE": (("CALL", "Звонок", 10), ("EMAIL", "Электронная почта", 20), ("WEB", "Веб-сайт", 30),
               ("ADVERTISING", "Реклама", 40), ("PARTNER", "Существующий клиент", 50),
               ("RECOMMENDATION", "По рекомендации", 60), ("TRADE_SHOW", "Выставка", 70),
               ("WEBFORM", "CRM-форма", 75), ("CALLBACK", "Обратный звонок", 77),
               ("RC_GENERATOR", "Генератор продаж", 78), ("STORE", "Интернет-магазин", 79), ("OTHER", "Другое", 80)),
    "DEAL_TYPE": (("SALE", "Продажа"), ("COMPLEX", "Комплексная продажа"), ("GOODS", "Продажа товара"),
                  ("SERVICES", "Продажа услуги"), ("SERVICE", "Сервисное обслуживание")),
    # crm/install/index.php ("Create default industry list"); RU crm-item-add.md: 'IT' = 'Информационные технологии'
    "INDUSTRY": (("IT", "Информационные технологии"), ("TELECOM", "Телекоммуникации и связь"),
                 ("MANUFACTURING", "Производство"), ("BANKING", "Банковские услуги"), ("CONSULTING", "Консалтинг"),
                 ("FINANCE", "Финансы"), ("GOVERNMENT", "Правительство"), ("DELIVERY", "Доставка"),
                 ("ENTERTAINMENT", "Развлечения"), ("NOTPROFIT", "Не для получения прибыли"), ("OTHER", "Другое")),
    # CCrmStatus::GetDefaultEmployees; RU crm-item-add.md: 'EMPLOYEES_1' = 'менее 50'
    "EMPLOYEES": (("EMPLOYEES_1", "менее 50"), ("EMPLOYEES_2", "50-250"), ("EMPLOYEES_3", "250-500"),
                  ("EMPLOYEES_4", "более 500")),
}

USERS = (
    (1, "Анна", "Администраторова", "admin@sandbox.example", "Администратор портала"),
    (2, "Ирина", "Продажникова", "irina.sales@sandbox.example", "Менеджер по продажам"),
    (3, "Олег", "Оптовиков", "oleg.opt@sandbox.example", "Менеджер по оптовым продажам"),
    (4, "Мария", "Бухгалтерова", "maria.buh@sandbox.example", "Бухгалтер"),
)

PRODUCT_IBLOCK = 25
OFFERS_IBLOCK = 27


def seed(store: Store, tz: timezone, at: float) -> None:
    now = values.iso_at(at, tz)
    for pid, name, xml_id, country in PRESETS:
        store.put("presets", pid, {"ID": pid, "ENTITY_TYPE_ID": 8, "COUNTRY_ID": country, "DATE_CREATE": now,
                                   "DATE_MODIFY": None, "CREATED_BY_ID": 1, "MODIFY_BY_ID": None, "NAME": name,
                                   "XML_ID": xml_id, "ACTIVE": "Y", "SORT": 500})
    store.bump_counter("presets", len(PRESETS))
    store.put("categories", 0, {"id": 0, "name": "Общая", "sort": 100, "entityTypeId": 2, "isDefault": "Y"})
    for status_id, name, sort, semantics, color in DEFAULT_STAGES:
        add_status(store, "DEAL_STAGE", status_id, name, sort, semantics=semantics, color=color, category_id=0,
                   system="Y")
    for entity_id, rows in STATUS_LISTS.items():
        for n, (status_id, name, *sort) in enumerate(rows):
            add_status(store, entity_id, status_id, name, sort[0] if sort else (n + 1) * 10, system="Y")
    for uid, name, last_name, email, position in USERS:
        store.put("users", uid, {"ID": uid, "XML_ID": None, "ACTIVE": True, "NAME": name, "LAST_NAME": last_name,
                                 "SECOND_NAME": "", "EMAIL": email, "LAST_LOGIN": now, "DATE_REGISTER": now,
                                 "IS_ONLINE": "N", "TIME_ZONE": "Europe/Moscow", "PERSONAL_GENDER": "",
                                 "WORK_POSITION": position, "UF_DEPARTMENT": [1], "USER_TYPE": "employee"})
    store.put("catalogs", PRODUCT_IBLOCK, {"id": PRODUCT_IBLOCK, "iblockId": PRODUCT_IBLOCK,
                                           "iblockTypeId": "CRM_PRODUCT_CATALOG", "lid": "s1",
                                           "name": "Товарный каталог CRM", "productIblockId": None,
                                           "skuPropertyId": None, "subscription": "N", "vatId": 0})
    store.put("catalogs", OFFERS_IBLOCK, {"id": OFFERS_IBLOCK, "iblockId": OFFERS_IBLOCK,
                                          "iblockTypeId": "CRM_PRODUCT_CATALOG", "lid": "s1",
                                          "name": "Товарный каталог CRM (предложения)",
                                          "productIblockId": PRODUCT_IBLOCK, "skuPropertyId": 113,
                                          "subscription": "N", "vatId": 0})
    store.put("price_types", 1, {"id": 1, "base": "Y", "name": "BASE", "sort": 100, "xmlId": "BASE",
                                 "createdBy": 1, "modifiedBy": 1, "dateCreate": now, "timestampX": now})
    store.bump_counter("price_types", 1)


def add_status(store: Store, entity_id: str, status_id: str, name: str, sort: int, *, semantics: str | None = None,
               color: str | None = None, category_id: int | None = None, system: str = "N") -> dict:
    row = {"ENTITY_ID": entity_id, "STATUS_ID": status_id, "NAME": name, "NAME_INIT": name if system == "Y" else "",
           "SORT": sort, "SYSTEM": system, "CATEGORY_ID": category_id, "COLOR": color, "SEMANTICS": semantics}
    store.insert("statuses", row)
    return row
