"""user.get / user.current / user.fields: a few pre-made portal users (see :mod:`b24_sandbox.seed`)."""

from __future__ import annotations

from typing import Any

from .. import listing, values
from . import Call, Result, method

FIELDS = ("ID", "XML_ID", "ACTIVE", "NAME", "LAST_NAME", "SECOND_NAME", "EMAIL", "LAST_LOGIN", "DATE_REGISTER",
          "IS_ONLINE", "TIME_ZONE", "PERSONAL_GENDER", "WORK_POSITION", "UF_DEPARTMENT", "USER_TYPE")


def render(row: dict[str, Any]) -> dict[str, Any]:
    return {name: (str(row[name]) if name == "ID" else row.get(name)) for name in FIELDS}


def _kind(name: str) -> str | None:
    return "int" if name == "ID" else "str" if name in FIELDS else None


def _get(row: dict[str, Any], name: str) -> Any:
    if name == "ACTIVE":
        return "Y" if row["ACTIVE"] else "N"
    return row.get(name)


@method("user.get")
def get(call: Call) -> Result:
    filter_ = call.param("filter", "FILTER", "FIELDS")
    if not isinstance(filter_, dict):
        filter_ = {k: v for k, v in call.params.items() if k.lstrip("!><=%@").upper() in FIELDS}
    if "ACTIVE" in filter_:
        filter_ = {**filter_, "ACTIVE": "Y" if values.truthy(filter_["ACTIVE"]) else "N"}
    rows = listing.apply_filter(call.store.rows("users"), filter_, _get, _kind)
    sort = values.text(call.param("sort", "SORT", default="ID")) or "ID"
    desc = values.text(call.param("order", "ORDER", default="ASC")).upper() == "DESC"
    rows = listing.apply_order(rows, {sort: "DESC" if desc else "ASC"}, _get, _kind)
    page = listing.paginate(rows, call.param("start"), call.config.page_size)
    return Result([render(r) for r in page.rows], page.total, page.next)


@method("user.current")
def current(call: Call) -> dict[str, Any]:
    row = call.store.get("users", call.user_id)
    return render(row) if row else {"ID": str(call.user_id)}


# user.fields as a Russian portal answers it: the recorded reply (fast_bitrix24's ``user_fields``, 2022), code →
# label, some codes repeating themselves, in the recorded order
USER_FIELDS = {
    "ID": "ID", "XML_ID": "Внешний код", "ACTIVE": "Активность", "NAME": "Имя", "LAST_NAME": "Фамилия",
    "SECOND_NAME": "Отчество", "TITLE": "Список пользователей", "EMAIL": "E-Mail",
    "LAST_LOGIN": "Последняя авторизация", "DATE_REGISTER": "Дата регистрации", "TIME_ZONE": "TIME_ZONE",
    "IS_ONLINE": "IS_ONLINE", "TIME_ZONE_OFFSET": "TIME_ZONE_OFFSET", "TIMESTAMP_X": "TIMESTAMP_X",
    "LAST_ACTIVITY_DATE": "LAST_ACTIVITY_DATE", "PERSONAL_GENDER": "Пол", "PERSONAL_PROFESSION": "Профессия",
    "PERSONAL_WWW": "Домашняя страничка", "PERSONAL_BIRTHDAY": "Дата рождения", "PERSONAL_PHOTO": "Фотография",
    "PERSONAL_ICQ": "ICQ", "PERSONAL_PHONE": "Личный телефон", "PERSONAL_FAX": "Факс",
    "PERSONAL_MOBILE": "Личный мобильный", "PERSONAL_PAGER": "Пейджер", "PERSONAL_STREET": "Улица проживания",
    "PERSONAL_CITY": "Город проживания", "PERSONAL_STATE": "Область / край", "PERSONAL_ZIP": "Почтовый индекс",
    "PERSONAL_COUNTRY": "Страна", "PERSONAL_MAILBOX": "Почтовый ящик", "PERSONAL_NOTES": "Дополнительные заметки",
    "WORK_PHONE": "Телефон компании", "WORK_COMPANY": "Компания", "WORK_POSITION": "Должность",
    "WORK_DEPARTMENT": "Отдел", "WORK_WWW": "Сайт компании", "WORK_FAX": "WORK_FAX", "WORK_PAGER": "WORK_PAGER",
    "WORK_STREET": "WORK_STREET", "WORK_MAILBOX": "WORK_MAILBOX", "WORK_CITY": "Город работы",
    "WORK_STATE": "WORK_STATE", "WORK_ZIP": "WORK_ZIP", "WORK_COUNTRY": "WORK_COUNTRY",
    "WORK_PROFILE": "WORK_PROFILE", "WORK_LOGO": "WORK_LOGO", "WORK_NOTES": "WORK_NOTES",
    "UF_SKYPE_LINK": "Ссылка на чат в Skype", "UF_ZOOM": "Zoom", "UF_EMPLOYMENT_DATE": "Дата принятия на работу",
    "UF_TIMEMAN": "Учет рабочего времени", "UF_DEPARTMENT": "Подразделения", "UF_INTERESTS": "Интересы",
    "UF_SKILLS": "Навыки", "UF_WEB_SITES": "Другие сайты", "UF_XING": "Xing", "UF_LINKEDIN": "LinkedIn",
    "UF_FACEBOOK": "Facebook", "UF_TWITTER": "Twitter", "UF_SKYPE": "Skype", "UF_DISTRICT": "Район",
    "UF_PHONE_INNER": "Внутренний телефон", "USER_TYPE": "USER_TYPE"
}


@method("user.fields")
def fields_(call: Call) -> dict[str, str]:
    return dict(USER_FIELDS)
