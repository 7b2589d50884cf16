"""``GET /_sandbox/``: what a sales manager would see on the portal, as one server-rendered page.

Deals as a kanban per funnel: the funnels holding the bridge's deals (``ORIGINATOR_ID`` set) first, then
other funnels with deals, then empty ones.  In a funnel that has stages of its own (added with
``crm.status.add``), the stock stages nobody uses fold into one narrow column at the end, so the bridge's
stages are what the page opens on.  Cards are compact — title, client (the company, else the contact),
amount — and open on click to show the rest (stage, responsible, external id, ``UF_CRM_*`` fields under
their labels, product rows, contacts, timeline comments).  Then the notifications with their BBCode
rendered, and lists of companies (with requisites, bank details, addresses), contacts and products.

The page updates in place: every few seconds it fetches ``/_sandbox/live`` (the same content without the
page around it) and swaps it in only when it changed, keeping the window's scroll position, each funnel's
horizontal scroll and the open cards.  ``?refresh=N`` sets the interval in seconds (0 = never).
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from .bbcode import to_html
from .methods.address import TYPES as ADDRESS_TYPES
from .seed import DEFAULT_STAGES

STOCK_STAGES = {status_id for status_id, *_ in DEFAULT_STAGES}

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#eef2f4;color:#333}
header{background:#2fc6f6;color:#fff;padding:10px 20px;display:flex;gap:24px;align-items:baseline;flex-wrap:wrap}
header h1{font-size:20px;margin:0} header span{opacity:.9}
section{padding:10px 20px} h2{font-size:17px;margin:14px 0 8px}
.board{display:flex;gap:10px;overflow-x:auto;padding-bottom:8px;align-items:flex-start}
.col{width:240px;background:#f8fafb;border-radius:6px;flex:0 0 auto}
.col.folded{width:150px;opacity:.75} .col.folded li{font-size:12px;color:#666}
.col h3{margin:0;padding:6px 10px;font-size:13px;color:#fff;border-radius:6px 6px 0 0}
.col .sum{font-weight:normal;opacity:.9;display:block;font-size:12px}
.card{background:#fff;margin:6px;padding:6px 9px;border-radius:5px;box-shadow:0 1px 2px rgba(0,0,0,.12);cursor:pointer}
.card:hover{box-shadow:0 1px 4px rgba(0,0,0,.25)} .card:target{outline:2px solid #2fc6f6}
.card .t{font-weight:600} .card .client{color:#555} .card .m{color:#0b66c3;font-weight:600}
.card .details{display:none;margin-top:6px;border-top:1px solid #e3e7ea;padding-top:4px;cursor:auto}
.card.open .details{display:block} .card.open{box-shadow:0 2px 8px rgba(0,0,0,.3)}
.muted{color:#888;font-size:12px} .stats{background:#d9f3fc;padding:4px 20px;font-size:13px}
.card table{font-size:12px;border-collapse:collapse;width:100%;table-layout:fixed}
.card td{padding:1px 3px;vertical-align:top;overflow-wrap:break-word} .card td.muted{width:45%}
table.list{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
table.list th,table.list td{border-bottom:1px solid #e3e7ea;padding:5px 8px;text-align:left;vertical-align:top}
table.list th{background:#f3f6f7;font-weight:600}
.tag{display:inline-block;background:#e5f6fd;border-radius:3px;padding:0 4px;margin:1px;font-size:12px}
blockquote{margin:2px 0;padding-left:8px;border-left:3px solid #ccc}
"""

SCRIPT = """
(function(){
  var every = %(refresh)d, last = null, busy = false;
  function openCards(){ return Array.from(document.querySelectorAll('.card.open')).map(function(c){return c.dataset.deal;}); }
  function boardScroll(){ var s = {}; document.querySelectorAll('.board').forEach(function(b){ s[b.dataset.funnel] = b.scrollLeft; }); return s; }
  document.addEventListener('click', function(e){
    if (e.target.closest('a') || e.target.closest('.details')) return;
    var card = e.target.closest('.card'); if (card) card.classList.toggle('open');
  });
  function openHash(){ var c = location.hash && document.getElementById(location.hash.slice(1)); if (c && c.classList.contains('card')) c.classList.add('open'); }
  window.addEventListener('hashchange', openHash); openHash();
  function update(){
    if (busy) return; busy = true;
    fetch('/_sandbox/live', {cache: 'no-store'}).then(function(r){ return r.ok ? r.text() : null; }).then(function(html){
      var live = document.getElementById('live');
      if (html === null || html === last || live === null) return;
      if (last === null) { last = live.innerHTML; if (html === last) return; }
      var x = window.scrollX, y = window.scrollY, opened = openCards(), boards = boardScroll();
      live.innerHTML = html; last = html;
      opened.forEach(function(id){ var c = document.querySelector('.card[data-deal="' + id + '"]'); if (c) c.classList.add('open'); });
      document.querySelectorAll('.board').forEach(function(b){ if (b.dataset.funnel in boards) b.scrollLeft = boards[b.dataset.funnel]; });
      window.scrollTo(x, y);
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    }).catch(function(){}).then(function(){ busy = false; });
  }
  if (every > 0) setInterval(update, every * 1000);
})();
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _deals_count(n: int) -> str:
    last, tens = n % 10, n % 100
    word = "сделка" if last == 1 and tens != 11 else "сделки" if 2 <= last <= 4 and not 12 <= tens <= 14 else "сделок"
    return f"{n} {word}"


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


def _person(contact: dict[str, Any] | None) -> str:
    if not contact:
        return ""
    return " ".join(p for p in (contact.get("NAME"), contact.get("SECOND_NAME"), contact.get("LAST_NAME")) if p) \
        or f"Контакт #{contact['ID']}"


def client_name(deal: dict[str, Any], companies: dict[str, Any], contacts: dict[str, Any]) -> str:
    """Who the deal is with, as the portal's card shows it: the company, else the contact."""
    company = companies.get(deal.get("COMPANY_ID") or "")
    if company:
        return company["TITLE"] or f"Компания #{company['ID']}"
    return _person(contacts.get(deal.get("CONTACT_ID") or ""))


def funnel_order(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Funnels with the bridge's deals first, then funnels with any deals, then the rest; by sort within."""
    def rank(funnel: dict[str, Any]) -> tuple[int, int, int]:
        deals = [d for d in state["deals"] if d["CATEGORY_ID"] == str(funnel["id"])]
        bridged = any(d.get("ORIGINATOR_ID") for d in deals)
        return (0 if bridged else 1 if deals else 2, funnel["sort"], funnel["id"])
    return sorted(state["categories"], key=rank)


def stage_columns(stages: list[dict[str, Any]], deals: list[dict[str, Any]]
                  ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(shown, folded): with stages of its own in the funnel, the empty stock stages are folded away."""
    used = {d["STAGE_ID"] for d in deals}
    own = any(s["STATUS_ID"].split(":")[-1] not in STOCK_STAGES for s in stages)
    if not own:
        return stages, []
    shown = [s for s in stages if s["STATUS_ID"].split(":")[-1] not in STOCK_STAGES or s["STATUS_ID"] in used]
    return shown, [s for s in stages if s not in shown]


def _card(d: dict[str, Any], ctx: dict[str, Any], stage_name: str) -> str:
    client = client_name(d, ctx["companies"], ctx["contacts"])
    out = [f"<div class=card id='deal-{_e(d['ID'])}' data-deal='{_e(d['ID'])}'>",
           f"<div class=t>{_e(d['TITLE'])}</div>",
           f"<div class=client>{_e(client) if client else '<span class=muted>клиент не указан</span>'}</div>",
           f"<div class=m>{_e(_money(d['OPPORTUNITY'], d['CURRENCY_ID']))}</div>",
           "<div class=details>"]
    facts = [("Стадия", stage_name), ("Ответственный", ctx["users"].get(d["ASSIGNED_BY_ID"] or "", "")),
             ("Сделка", f"#{d['ID']}"), ("Внешний ключ", " / ".join(x for x in (d.get("ORIGINATOR_ID"),
                                                                             d.get("ORIGIN_ID")) if x)),
             ("Контакт", _person(ctx["contacts"].get(d.get("CONTACT_ID") or "")) if d.get("COMPANY_ID") else ""),
             ("Начало", (d.get("BEGINDATE") or "")[:10]), ("Налог", _money(d["TAX_VALUE"], d["CURRENCY_ID"])
                                                           if d.get("TAX_VALUE") not in (None, "0.00") else "")]
    rows = "".join(f"<tr><td class=muted>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in facts if v)
    rows += "".join(f"<tr><td class=muted>{_e(ctx['labels'].get(k, k))}</td><td>{_uf_value(v)}</td></tr>"
                    for k, v in d.items() if k.startswith("UF_CRM_") and v not in (None, "", [], False))
    out.append(f"<table>{rows}</table>")
    if ctx["rows"].get(d["ID"]):
        out.append("<table>" + "".join(
            f"<tr><td>{_e(r['PRODUCT_NAME'])}</td><td>{_e(r['QUANTITY'])} {_e(r['MEASURE_NAME'])}"
            f" × {_e(_money(r['PRICE'], ''))}</td></tr>" for r in ctx["rows"][d["ID"]]) + "</table>")
    for c in ctx["comments"].get(d["ID"], []):
        out.append(f"<div class=muted>Комментарий: {to_html(c['COMMENT'])}</div>")
    out.append("</div></div>")
    return "".join(out)


def _kanban(state: dict[str, Any]) -> str:
    ctx: dict[str, Any] = {
        "companies": {c["ID"]: c for c in state["companies"]},
        "contacts": {c["ID"]: c for c in state["contacts"]},
        "users": {u["ID"]: f"{u['NAME']} {u['LAST_NAME']}" for u in state["users"]},
        "labels": {uf["FIELD_NAME"]: uf.get("EDIT_FORM_LABEL") or uf["FIELD_NAME"]
                   for uf in state["userfields"] if uf["ENTITY_ID"] == "CRM_DEAL"},
        "rows": defaultdict(list), "comments": defaultdict(list)}
    for row in state["product_rows"]:
        ctx["rows"][row["OWNER_ID"]].append(row)
    for comment in state["timeline_comments"]:
        if comment["ENTITY_TYPE"] == "deal":
            ctx["comments"][comment["ENTITY_ID"]].append(comment)
    out = []
    for funnel in funnel_order(state):
        entity = "DEAL_STAGE" if funnel["id"] == 0 else f"DEAL_STAGE_{funnel['id']}"
        stages = sorted((s for s in state["statuses"] if s["ENTITY_ID"] == entity), key=lambda s: int(s["SORT"]))
        deals = [d for d in state["deals"] if d["CATEGORY_ID"] == str(funnel["id"])]
        shown, folded = stage_columns(stages, deals)
        out.append(f"<h2 class=funnel data-funnel='{funnel['id']}'>Воронка «{_e(funnel['name'])}» "
                   f"<span class=muted>({_deals_count(len(deals))})</span></h2>")
        out.append(f"<div class=board data-funnel='{funnel['id']}'>")
        for stage in shown:
            in_stage = [d for d in deals if d["STAGE_ID"] == stage["STATUS_ID"]]
            total = sum(float(d["OPPORTUNITY"] or 0) for d in in_stage)
            out.append(f"<div class=col data-stage='{_e(stage['STATUS_ID'])}'>"
                       f"<h3 style='background:{_e(stage['COLOR'] or '#9aa5ad')}'>{_e(stage['NAME'])}"
                       f" <span class=sum>{len(in_stage)} · {_e(_money(total, 'RUB'))}</span></h3>")
            out.extend(_card(d, ctx, stage["NAME"]) for d in in_stage)
            out.append("</div>")
        if folded:
            out.append("<div class='col folded'><h3 style='background:#9aa5ad'>Пустые стандартные стадии</h3><ul>"
                       + "".join(f"<li>{_e(s['NAME'])}</li>" for s in folded) + "</ul></div>")
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
    names = {p["ID"]: _person(p) for p in state["contacts"]}
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
        [_e(n["ID"]), _e(users.get(n["USER_ID"], n["USER_ID"])), f"<div class=message>{to_html(n['MESSAGE'])}</div>",
         _e(n["TAG"]), _e(n["DATE"])]
        for n in reversed(state["notifications"])])


def render_live(state: dict[str, Any], stats: dict[str, Any] | None = None) -> str:
    """The part of the page that changes: what ``/_sandbox/live`` answers and the page swaps in."""
    stats = stats or {}
    return (
        f"<div class=stats>HTTP-запросов: {_e(stats.get('http_requests', 0))} · команд: {_e(stats.get('commands', 0))}"
        f" · отказов по лимиту: {_e(stats.get('rate_limited', 0))}"
        f" · OPERATION_TIME_LIMIT: {_e(stats.get('operating_limited', 0))}"
        f" · сбоев: {_e(sum((stats.get('faults') or {}).values()))}</div>"
        f"<section id=deals><h2>Сделки</h2>{_kanban(state)}</section>"
        f"<section id=notifications><h2>Уведомления</h2>{_notifications(state)}</section>"
        f"<section id=companies><h2>Компании</h2>{_companies(state)}</section>"
        f"<section id=contacts><h2>Контакты</h2>{_contacts(state)}</section>"
        f"<section id=products><h2>Товары</h2>{_products(state)}</section>"
    )


def render_page(state: dict[str, Any], domain: str = "sandbox", stats: dict[str, Any] | None = None,
                refresh: int = 5) -> str:
    return (
        "<!doctype html><html lang=ru><head><meta charset=utf-8>"
        f"<title>Bitrix24 sandbox — {_e(domain)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>Bitrix24 sandbox</h1><span>{_e(domain)}</span></header>"
        f"<main id=live>{render_live(state, stats)}</main>"
        f"<script>{SCRIPT % {'refresh': max(refresh, 0)}}</script></body></html>"
    )
