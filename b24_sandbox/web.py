"""``GET /_sandbox/``: what a sales manager would see on the portal, as one server-rendered page.

Deals as a kanban per funnel (columns = stages by their crm.status names; cards with company, sum, the
``UF_CRM_*`` fields under their labels, product rows, timeline comments), the notifications sent, and
lists of companies (with requisites, bank details, addresses), contacts and products with prices.
Built from the same data as ``/_sandbox/state``; it refreshes itself every few seconds.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from .methods.address import TYPES as ADDRESS_TYPES

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#eef2f4;color:#333}
header{background:#2fc6f6;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline}
header h1{font-size:20px;margin:0} header span{opacity:.9}
section{padding:10px 20px} h2{font-size:17px;margin:14px 0 8px}
.board{display:flex;gap:10px;overflow-x:auto;padding-bottom:8px}
.col{min-width:230px;max-width:260px;background:#f8fafb;border-radius:6px;flex:0 0 auto}
.col h3{margin:0;padding:8px 10px;font-size:13px;color:#fff;border-radius:6px 6px 0 0}
.col .sum{font-weight:normal;opacity:.9}
.card{background:#fff;margin:8px;padding:8px 10px;border-radius:5px;box-shadow:0 1px 2px rgba(0,0,0,.12)}
.card .t{font-weight:600} .card .m{color:#0b66c3;font-weight:600} .muted{color:#888;font-size:12px}
.card table{font-size:12px;border-collapse:collapse;width:100%} .card td{padding:1px 3px;vertical-align:top}
table.list{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
table.list th,table.list td{border-bottom:1px solid #e3e7ea;padding:5px 8px;text-align:left;vertical-align:top}
table.list th{background:#f3f6f7;font-weight:600}
.tag{display:inline-block;background:#e5f6fd;border-radius:3px;padding:0 4px;margin:1px;font-size:12px}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _money(amount: Any, currency: Any) -> str:
    try:
        text = f"{float(amount):,.2f}".replace(",", " ")
    except (TypeError, ValueError):
        text = str(amount)
    return f"{text} {currency or ''}".strip()


def _uf_value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_e(v) for v in value)
    if isinstance(value, str) and "|" in value:
        amount, _, currency = value.partition("|")
        return _e(_money(amount, currency))
    return _e(value)


def _kanban(state: dict[str, Any]) -> str:
    companies = {c["ID"]: c for c in state["companies"]}
    users = {u["ID"]: f"{u['NAME']} {u['LAST_NAME']}" for u in state["users"]}
    labels = {uf["FIELD_NAME"]: uf.get("EDIT_FORM_LABEL") or uf["FIELD_NAME"]
              for uf in state["userfields"] if uf["ENTITY_ID"] == "CRM_DEAL"}
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in state["product_rows"]:
        rows[row["OWNER_ID"]].append(row)
    comments: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for comment in state["timeline_comments"]:
        if comment["ENTITY_TYPE"] == "deal":
            comments[comment["ENTITY_ID"]].append(comment)
    out = []
    for funnel in sorted(state["categories"], key=lambda c: c["sort"]):
        entity = "DEAL_STAGE" if funnel["id"] == 0 else f"DEAL_STAGE_{funnel['id']}"
        stages = sorted((s for s in state["statuses"] if s["ENTITY_ID"] == entity), key=lambda s: int(s["SORT"]))
        deals = [d for d in state["deals"] if d["CATEGORY_ID"] == str(funnel["id"])]
        out.append(f"<h2>Воронка «{_e(funnel['name'])}» <span class=muted>({len(deals)} сделок)</span></h2>")
        out.append("<div class=board>")
        for stage in stages:
            in_stage = [d for d in deals if d["STAGE_ID"] == stage["STATUS_ID"]]
            total = sum(float(d["OPPORTUNITY"] or 0) for d in in_stage)
            out.append(f"<div class=col><h3 style='background:{_e(stage['COLOR'] or '#9aa5ad')}'>{_e(stage['NAME'])}"
                       f" <span class=sum>· {len(in_stage)} · {_e(_money(total, 'RUB'))}</span></h3>")
            for d in in_stage:
                company = companies.get(d["COMPANY_ID"] or "")
                out.append("<div class=card>")
                out.append(f"<div class=t>{_e(d['TITLE'])}</div>")
                out.append(f"<div class=m>{_e(_money(d['OPPORTUNITY'], d['CURRENCY_ID']))}</div>")
                if company:
                    out.append(f"<div>{_e(company['TITLE'])}</div>")
                out.append(f"<div class=muted>#{_e(d['ID'])} · {_e(users.get(d['ASSIGNED_BY_ID'] or '', ''))}"
                           f"{' · ' + _e(d['ORIGIN_ID']) if d.get('ORIGIN_ID') else ''}</div>")
                fields = [(labels.get(k, k), v) for k, v in d.items()
                          if k.startswith("UF_CRM_") and v not in (None, "", [], False)]
                if fields:
                    out.append("<table>" + "".join(f"<tr><td class=muted>{_e(k)}</td><td>{_uf_value(v)}</td></tr>"
                                                   for k, v in fields) + "</table>")
                if rows.get(d["ID"]):
                    out.append("<table>" + "".join(
                        f"<tr><td>{_e(r['PRODUCT_NAME'])}</td><td>{_e(r['QUANTITY'])} {_e(r['MEASURE_NAME'])}"
                        f" × {_e(_money(r['PRICE'], ''))}</td></tr>" for r in rows[d["ID"]]) + "</table>")
                for c in comments.get(d["ID"], []):
                    out.append(f"<div class=muted>Комментарий: {_e(c['COMMENT'])}</div>")
                out.append("</div>")
            out.append("</div>")
        out.append("</div>")
    return "".join(out)


def _table(headers: list[str], body: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in body)
    return f"<table class=list><tr>{head}</tr>{rows or '<tr><td colspan=9 class=muted>—</td></tr>'}</table>"


def _multi(record: dict[str, Any], kind: str) -> str:
    return " ".join(f"<span class=tag>{_e(x['VALUE'])}</span>" for x in record.get(kind, []))


def _companies(state: dict[str, Any]) -> str:
    body = []
    for c in state["companies"]:
        requisites = [r for r in state["requisites"] if r["ENTITY_TYPE_ID"] == "4" and r["ENTITY_ID"] == c["ID"]]
        parts = []
        for r in requisites:
            banks = [b for b in state["bank_details"] if b["ENTITY_ID"] == r["ID"]]
            addresses = [a for a in state["addresses"] if a["ENTITY_ID"] == r["ID"]]
            parts.append(
                f"<b>{_e(r['NAME'])}</b> ИНН {_e(r['RQ_INN'])} КПП {_e(r['RQ_KPP'])}"
                + "".join(f"<br><span class=muted>банк:</span> {_e(b['RQ_BANK_NAME'])} БИК {_e(b['RQ_BIK'])}"
                          f" р/с {_e(b['RQ_ACC_NUM'])}" for b in banks)
                + "".join(f"<br><span class=muted>{_e(ADDRESS_TYPES.get(int(a['TYPE_ID']), 'Адрес'))}:</span> "
                          f"{_e(a['POSTAL_CODE'])} "
                          f"{_e(a['CITY'])}, {_e(a['ADDRESS_1'])} {_e(a['ADDRESS_2'])}" for a in addresses))
        contacts = [x for x in state["contact_company"] if str(x["COMPANY_ID"]) == c["ID"]]
        names = {p["ID"]: f"{p['NAME'] or ''} {p['LAST_NAME'] or ''}".strip() for p in state["contacts"]}
        body.append([_e(c["ID"]), _e(c["TITLE"]), _e(c["ORIGIN_ID"]), _multi(c, "PHONE") + _multi(c, "EMAIL"),
                     "<br>".join(parts), ", ".join(_e(names.get(str(x["CONTACT_ID"]), "")) for x in contacts)])
    return _table(["ID", "Компания", "ORIGIN_ID", "Связь", "Реквизиты", "Контакты"], body)


def _contacts(state: dict[str, Any]) -> str:
    titles = {c["ID"]: c["TITLE"] for c in state["companies"]}
    return _table(["ID", "Имя", "Должность", "Компания", "Связь", "ORIGIN_ID"], [
        [_e(p["ID"]), _e(f"{p['LAST_NAME'] or ''} {p['NAME'] or ''} {p['SECOND_NAME'] or ''}"), _e(p["POST"]),
         _e(titles.get(p["COMPANY_ID"] or "", "")), _multi(p, "PHONE") + _multi(p, "EMAIL"), _e(p["ORIGIN_ID"])]
        for p in state["contacts"]])


def _products(state: dict[str, Any]) -> str:
    types = {t["id"]: t["name"] for t in state["price_types"]}
    body = []
    for p in state["products"]:
        prices = [f"{_e(types.get(x['catalogGroupId'], x['catalogGroupId']))}: {_e(_money(x['price'], x['currency']))}"
                  for x in state["prices"] if x["productId"] == p["id"]]
        body.append([_e(p["id"]), _e(p["name"]), _e(p["xmlId"]), "<br>".join(prices),
                     _e(_money(p["purchasingPrice"], p["purchasingCurrency"])) if p["purchasingPrice"] else ""])
    return _table(["ID", "Товар", "XML_ID", "Цены", "Закупочная"], body)


def _notifications(state: dict[str, Any]) -> str:
    users = {int(u["ID"]): f"{u['NAME']} {u['LAST_NAME']}" for u in state["users"]}
    return _table(["ID", "Кому", "Сообщение", "TAG", "Когда"], [
        [_e(n["ID"]), _e(users.get(n["USER_ID"], n["USER_ID"])), _e(n["MESSAGE"]), _e(n["TAG"]), _e(n["DATE"])]
        for n in reversed(state["notifications"])])


def render_page(state: dict[str, Any], domain: str = "sandbox", stats: dict[str, Any] | None = None) -> str:
    stats = stats or {}
    return (
        "<!doctype html><html lang=ru><head><meta charset=utf-8><meta http-equiv=refresh content=5>"
        f"<title>Bitrix24 sandbox — {_e(domain)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>Bitrix24 sandbox</h1><span>{_e(domain)}</span>"
        f"<span>HTTP-запросов: {_e(stats.get('http_requests', 0))} · команд: {_e(stats.get('commands', 0))}"
        f" · отказов по лимиту: {_e(stats.get('rate_limited', 0))}"
        f" · OPERATION_TIME_LIMIT: {_e(stats.get('operating_limited', 0))}"
        f" · сбоев: {_e(sum((stats.get('faults') or {}).values()))}</span></header>"
        f"<section><h2>Сделки</h2>{_kanban(state)}</section>"
        f"<section><h2>Уведомления</h2>{_notifications(state)}</section>"
        f"<section><h2>Компании</h2>{_companies(state)}</section>"
        f"<section><h2>Контакты</h2>{_contacts(state)}</section>"
        f"<section><h2>Товары</h2>{_products(state)}</section>"
        "</body></html>"
    )
