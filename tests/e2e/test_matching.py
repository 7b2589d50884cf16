"""Never a duplicate on a live portal: records managers typed are found and adopted, the ambiguous ones
parked for an operator, and several 1C bases share one company per ИНН+КПП.

The pre-filled portal holds about 300 records "entered by hand": companies with and without requisites,
branches sharing an ИНН under another КПП, ИП, companies typed twice, an ИНН only in a title, contacts
sharing a phone, products with the article in their code and near-duplicate names.  A matching 1C world
is exported whole through the real path (HTTP ingest → outbox → relay → RabbitMQ → consumers → sandbox).
"""

from __future__ import annotations

import asyncio
import copy
import uuid

from bridge import review as review_mod
from b24_sandbox.seed import PRODUCT_IBLOCK
from tests.contract.samples import CONTRACT_EXAMPLE, PAYLOADS, event
from tests.helpers import wait_for
from tests.support.orders import Lifecycle

from .conftest import TOKEN, running_stack

SOURCE = "ut103-main"
W10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
W11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
W12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


def inn10(n: int) -> str:
    base = f"77{n:07d}"
    return base + str(sum(int(d) * w for d, w in zip(base, W10)) % 11 % 10)


def inn12(n: int) -> str:
    base = f"5001{n:06d}"
    d11 = str(sum(int(d) * w for d, w in zip(base, W11)) % 11 % 10)
    return base + d11 + str(sum(int(d) * w for d, w in zip(base + d11, W12)) % 11 % 10)


def counterparty(n: int, *, inn: str, kpp: str | None, form: str = "company", persons=(), source=SOURCE,
                 entity_id: str | None = None) -> dict:
    p = copy.deepcopy(CONTRACT_EXAMPLE["payload"])
    p.update(name=f"Клиент {n} ООО" if form == "company" else f"ИП Клиентов {n}", full_name=None, legal_form=form,
             inn=inn, kpp=kpp, phones=[f"+7 (495) 500-{n // 100:02d}-{n % 100:02d}"], emails=[],
             bank_accounts=[], contact_persons=list(persons), legal_address=None, city=None)
    return event("counterparty", event_id=str(uuid.uuid4()), entity_id=entity_id or str(uuid.uuid4()),
                 version=1, source=source, payload=p)


def person(n: int, last: str, first: str, phone: str) -> dict:
    return {"id": str(uuid.uuid4()), "last_name": last, "first_name": first, "middle_name": None,
            "position": "Менеджер", "phones": [phone], "emails": [], "city": None}


def product(n: int, *, name: str, article: str | None) -> dict:
    p = copy.deepcopy(PAYLOADS["product"])
    p.update(name=name, full_name=None, article=article, code=f"{n:08d}")
    return event("product", event_id=str(uuid.uuid4()), entity_id=str(uuid.uuid4()), version=1, source=SOURCE,
                 payload=p)


class Portal:
    """The sandbox, filled through its own REST methods as a manager's hands would."""

    def __init__(self, sandbox) -> None:
        self.sandbox = sandbox
        self.made = 0

    def call(self, method: str, params: dict):
        self.made += method.endswith(".add")
        return self.sandbox.call(method, params).result.value

    def company(self, title: str, inn: str | None = None, kpp: str | None = None, preset: int = 1) -> int:
        company_id = int(self.call("crm.company.add", {"fields": {"TITLE": title, "COMPANY_TYPE": "CUSTOMER"}}))
        if inn:
            self.call("crm.requisite.add", {"fields": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": company_id, "PRESET_ID": preset,
                                                       "NAME": title, "RQ_INN": inn, **({"RQ_KPP": kpp} if kpp else {})}})
        return company_id

    def contact(self, last: str, first: str, phone: str) -> int:
        return int(self.call("crm.contact.add", {"fields": {"LAST_NAME": last, "NAME": first,
                                                            "PHONE": [{"VALUE": phone, "VALUE_TYPE": "WORK"}]}}))

    def product(self, name: str, code: str | None = None) -> int:
        fields = {"iblockId": PRODUCT_IBLOCK, "name": name, **({"code": code} if code else {})}
        return int(self.call("catalog.product.add", {"fields": fields})["element"]["id"])


async def _links(pool, onec_type: str, b24_type: str) -> dict[str, int]:
    rows = await pool.fetch("SELECT onec_id, b24_id FROM entity_links WHERE onec_type = $1 AND b24_type = $2",
                            onec_type, b24_type)
    return {r["onec_id"]: r["b24_id"] for r in rows}


MATCHING_METHODS = ("crm.requisite.list", "crm.duplicate.findbycomm", "crm.company.list", "crm.contact.list",
                    "catalog.product.list", "crm.company.get", "crm.contact.get", "catalog.product.get",
                    "crm.requisite.get")


OWNED_READS = ("crm.company.list", "crm.contact.list", "catalog.product.list")


def _spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {m: n - before.get(m, 0) for m, n in after.items() if n - before.get(m, 0)}


async def _post_all(stack, events: list[dict]) -> None:
    for start in range(0, len(events), 200):
        response = await stack.post(events[start:start + 200])
        assert response.status_code == 200, response.text
        assert {r["status"] for r in response.json()["results"]} == {"accepted"}, response.json()


async def test_a_pre_filled_portal_gets_no_duplicates_and_exactly_the_ambiguous_cases_are_parked(db_url, amqp_url,
                                                                                                   db_pool):
    async with running_stack(db_url, amqp_url) as stack:
        portal = Portal(stack.portal.sandbox)
        events: list[dict] = []
        expect_company: dict[str, int] = {}  # 1C id → the company it must be linked to
        expect_contact: dict[str, int] = {}
        parked_cp: dict[str, list[int]] = {}
        # 60 companies typed with their requisite (ИНН + КПП); every 6th also has a branch: same ИНН, other КПП
        for n in range(60):
            inn = inn10(n)
            cid = portal.company(f"Клиент {n} (введён вручную)", inn, "773601001")
            persons = []
            if n < 20:  # a contact person the manager typed too: same phone, same name → adopted
                phone = f"+7 (916) 100-{n:02d}-00"
                expect_person = portal.contact(f"Петров{n}", "Иван", phone)
                persons.append(p := person(n, f"Петров{n}", "Иван", phone))
                expect_contact[p["id"]] = expect_person
            elif n < 30:  # the office phone, typed under another name → another person: created
                phone = f"+7 (916) 200-{n:02d}-00"
                portal.contact("Секретарь", f"Офис{n}", phone)
                persons.append(person(n, f"Сидоров{n}", "Пётр", phone))
            if n % 6 == 0:
                portal.company(f"Клиент {n}, филиал", inn, "773650001")
            e = counterparty(n, inn=inn, kpp="773601001", persons=persons)
            expect_company[e["entity_id"]] = cid
            events.append(e)
        # 10 ИП with their 12-digit ИНН (no КПП) → adopted
        for n in range(10):
            cid = portal.company(f"ИП Клиентов {100 + n}", inn12(n), None, preset=2)
            e = counterparty(100 + n, inn=inn12(n), kpp=None, form="individual_entrepreneur")
            expect_company[e["entity_id"]] = cid
            events.append(e)
        # 5 counterparties typed twice (two companies, same ИНН + КПП) → parked: several candidates
        for n in range(200, 205):
            ids = [portal.company(f"Клиент {n}", inn10(n), "773601001"),
                   portal.company(f"Клиент {n} (дубль)", inn10(n), "773601001")]
            e = counterparty(n, inn=inn10(n), kpp="773601001")
            parked_cp[e["entity_id"]] = ids
            events.append(e)
        # 5 companies with the ИНН only in their title → parked: a weak match
        for n in range(300, 305):
            cid = portal.company(f"Клиент {n}, ИНН {inn10(n)}")
            e = counterparty(n, inn=inn10(n), kpp="773601001")
            parked_cp[e["entity_id"]] = [cid]
            events.append(e)
        # 20 companies without requisites that nobody in 1C is, and 10 counterparties the portal lacks
        for n in range(20):
            portal.company(f"Прочая фирма {n}")
        new_cp = [counterparty(400 + n, inn=inn10(400 + n), kpp="773601001") for n in range(10)]
        events += new_cp
        # products: 30 with the article as their code → adopted; 10 with the exact name only → parked;
        # 10 near-duplicate names → created beside them; 10 the portal lacks → created
        expect_product: dict[str, int] = {}
        parked_products: dict[str, int] = {}
        for n in range(30):
            pid = portal.product(f"Товар по артикулу {n}", code=f"art-{n:03d}")
            e = product(n, name=f"Товар {n} из 1С", article=f"art-{n:03d}")
            expect_product[e["entity_id"]] = pid
            events.append(e)
        for n in range(30, 40):
            pid = portal.product(f"Болт М{n}")
            e = product(n, name=f"Болт М{n}", article=None)
            parked_products[e["entity_id"]] = pid
            events.append(e)
        near = []
        for n in range(40, 50):
            portal.product(f"Шуруп {n} оцинк.")
            near.append(product(n, name=f"Шуруп {n}", article=None))
        new_products = [product(n, name=f"Новинка {n}", article=None) for n in range(50, 60)]
        events += near + new_products
        prefilled = portal.made
        calls_before = stack.portal.sandbox.stats()["per_method"]
        before = stack.state()
        before_counts = {k: len(before[k]) for k in ("companies", "contacts", "products")}

        await _post_all(stack, events)
        store = review_mod.ReviewStore(db_pool)
        cp_ids = [e["entity_id"] for e in events if e["event_type"] == "counterparty.upserted"]
        product_ids = [e["entity_id"] for e in events if e["event_type"] == "product.upserted"]

        async def settled():
            links = await _links(db_pool, "counterparty", "company")
            products = await _links(db_pool, "product", "product")
            parked = await store.select("open")
            return (len(links) + len(parked_cp) == len(cp_ids) and len(products) + len(parked_products)
                    == len(product_ids) and len(parked) == len(parked_cp) + len(parked_products))

        assert await wait_for(settled, timeout=240, interval=0.5), (
            len(await _links(db_pool, "counterparty", "company")), len(await store.select("open")))
        await asyncio.sleep(1)  # nothing else is on its way: a late duplicate would show below

        # exactly the ambiguous cases are parked, and nothing was created for them
        parked = await store.select("open")
        assert {i.row["onec_id"] for i in parked} == set(parked_cp) | set(parked_products)
        for item in parked:
            if item.row["onec_id"] in parked_cp:
                assert sorted(c["id"] for c in item.candidates()) == sorted(parked_cp[item.row["onec_id"]])
                # named as Bitrix24 shows them, so an operator tells the duplicate from the original
                titles = {c["id"]: c["title"] for c in item.candidates()}
                assert titles == {int(c["ID"]): c["TITLE"] for c in stack.state()["companies"]
                                  if int(c["ID"]) in titles}, titles
                assert all(f"«{t}»" in item.row["summary"] for t in titles.values()), item.row["summary"]
                assert item.row["reason"] == ("several_candidates" if len(parked_cp[item.row["onec_id"]]) > 1
                                              else "weak_match")
            else:  # a product matched by its exact name: the name the look-up read
                assert [c["title"] for c in item.candidates()] == [item.envelope()["payload"]["name"]]
            assert item.envelope()["entity_id"] == item.row["entity_id"]  # the whole event is kept

        companies = await _links(db_pool, "counterparty", "company")
        assert {k: companies[k] for k in expect_company} == expect_company
        contacts = await _links(db_pool, "contact_person", "contact")
        assert {k: contacts[k] for k in expect_contact} == expect_contact
        products = await _links(db_pool, "product", "product")
        assert {k: products[k] for k in expect_product} == expect_product
        state = stack.state()
        created = {k: len(state[k]) - before_counts[k] for k in before_counts}
        assert created == {"companies": len(new_cp), "contacts": 10, "products": len(near) + len(new_products)}
        adopted = [c for c in state["companies"] if int(c["ID"]) in set(expect_company.values())]
        assert {c["ORIGINATOR_ID"] for c in adopted} == {SOURCE}  # our key written on what was adopted
        assert all(c["TITLE"].endswith("(введён вручную)") for c in adopted if "Клиент" in c["TITLE"]
                   and "ИП" not in c["TITLE"])  # a manager's title stays (fill_empty)
        # one requisite per adopted company: the manager's, not a second one
        rq_owners = [r["ENTITY_ID"] for r in state["requisites"] if r["ENTITY_TYPE_ID"] == "4"]
        assert all(rq_owners.count(str(cid)) == 1 for cid in expect_company.values())

        calls_export = _spent(calls_before, stack.portal.sandbox.stats()["per_method"])

        # an operator resolves: the duplicates adopt the first, the titles and the bolts split
        resolved = 0
        for item in parked:
            onec_id = item.row["onec_id"]
            if onec_id in parked_cp and len(parked_cp[onec_id]) > 1:
                await store.resolve(item.id, decision="adopt", target_id=parked_cp[onec_id][0], by="test")
            elif onec_id in parked_cp:
                await store.resolve(item.id, decision="create", target_id=None, by="test")
            else:
                await store.resolve(item.id, decision="adopt", target_id=parked_products[onec_id], by="test")
            resolved += 1

        async def complete():
            return (len(await _links(db_pool, "counterparty", "company")) == len(cp_ids)
                    and len(await _links(db_pool, "product", "product")) == len(product_ids))

        assert await wait_for(complete, timeout=120, interval=0.5)
        assert await store.select("open") == []
        companies = await _links(db_pool, "counterparty", "company")
        for onec_id, ids in parked_cp.items():
            if len(ids) > 1:
                assert companies[onec_id] == ids[0]
            else:
                assert companies[onec_id] not in ids  # the operator said: another company
        products = await _links(db_pool, "product", "product")
        assert all(products[k] == v for k, v in parked_products.items())
        final = stack.state()

        # updates of linked records never match again: no look-up of a requisite by ИНН, of a phone, a name
        calls_linked = stack.portal.sandbox.stats()["per_method"]
        again = []
        for e in events:
            if e["entity_id"] in expect_company or e["entity_id"] in expect_product:
                e2 = copy.deepcopy(e)
                e2.update(event_id=str(uuid.uuid4()), version=2)
                e2["payload"]["name"] += " (изм.)"
                again.append(e2)
        await _post_all(stack, again)

        async def updated():
            n = await db_pool.fetchval("SELECT count(*) FROM entity_links WHERE version = 2 AND b24_type IN "
                                       "('company', 'product')")
            return n == len(again)

        assert await wait_for(updated, timeout=120, interval=0.5)
        spent = _spent(calls_linked, stack.portal.sandbox.stats()["per_method"])
        # an update reads the fields it sends, by id, in its own batch (docs/ownership.md): one list per update,
        # never a look-up by ИНН, phone, title, article or name
        owned_reads = {m: spent.pop(m, 0) for m in OWNED_READS}
        assert sum(owned_reads.values()) <= len(again), owned_reads
        assert not {m: n for m, n in spent.items() if m in MATCHING_METHODS}, spent
        adopted_total = len(expect_company) + len(expect_contact) + len(expect_product)
        print(f"\npre-filled records: {prefilled}; adopted by rules: {adopted_total} "
              f"(companies {len(expect_company)}, contacts {len(expect_contact)}, products {len(expect_product)}); "
              f"parked: {len(parked_cp) + len(parked_products)} (companies {len(parked_cp)}, products "
              f"{len(parked_products)}); created: companies {created['companies']}, contacts {created['contacts']}, "
              f"products {created['products']}; after {resolved} resolutions: companies +"
              f"{len(final['companies']) - before_counts['companies']}, products "
              f"+{len(final['products']) - before_counts['products']}; matching calls in the export: "
              f"{ {m: n for m, n in calls_export.items() if m in MATCHING_METHODS} }; all calls in the export: "
              f"{sum(calls_export.values())}; calls of {len(again)} updates: {sum(spent.values())}, none matching")


async def test_two_1c_bases_share_one_company_and_keep_their_own_deals(db_url, amqp_url, db_pool):
    async with running_stack(db_url, amqp_url, ingest_tokens=f"{TOKEN},token-b@ut-b") as stack:
        a = counterparty(1, inn=inn10(901), kpp="773601001", source="ut-a")
        b = counterparty(1, inn=inn10(901), kpp="773601001", source="ut-b")
        assert (await stack.post(a)).status_code == 200

        async def linked(source):
            row = await db_pool.fetchrow("SELECT b24_id FROM entity_links WHERE source = $1 AND onec_type = "
                                         "'counterparty' AND b24_type = 'company'", source)
            return row["b24_id"] if row else None

        company_a = await wait_for(lambda: linked("ut-a"), timeout=60)
        assert company_a
        # base B's token may send only base B's events
        refused = await stack.post(counterparty(2, inn=inn10(902), kpp="773601001", source="ut-a"), token="token-b")
        assert refused.status_code == 403 and refused.json()["error"] == "forbidden_source"
        assert (await stack.post(b, token="token-b")).status_code == 200
        assert await wait_for(lambda: linked("ut-b"), timeout=60) == company_a
        state = stack.state()
        assert len(state["companies"]) == 1
        assert (state["companies"][0]["ORIGINATOR_ID"], state["companies"][0]["ORIGIN_ID"]) == ("ut-a", a["entity_id"])
        assert len([r for r in state["requisites"] if r["ENTITY_TYPE_ID"] == "4"]) == 1

        # each base's order is its own deal on the shared company
        products, orders = [], []
        for source, cp in (("ut-a", a), ("ut-b", b)):
            prod = product(7, name=f"Товар базы {source}", article=None)
            prod["source"] = source
            life = Lifecycle(cp["entity_id"], prod["entity_id"], source=source)
            products.append(prod)
            orders.append(life.order())
        assert (await stack.post([products[0], orders[0]])).status_code == 200
        assert (await stack.post([products[1], orders[1]], token="token-b")).status_code == 200

        async def deals():
            found = [d for d in stack.state()["deals"] if d["ORIGIN_ID"] in {o["entity_id"] for o in orders}]
            return found if len(found) == 2 else None

        found = await wait_for(deals, timeout=90)
        assert found and {d["COMPANY_ID"] for d in found} == {str(company_a)}
        assert {d["ORIGINATOR_ID"] for d in found} == {"ut-a", "ut-b"}
