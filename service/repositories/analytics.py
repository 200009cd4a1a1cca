"""The reads behind analytics (SPEC §7): stored nets per dealer, a program's basis per
dealer and product, scorecard scores of a period."""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from domain.analytics import NO_GROUP, Scored
from domain.periods import DateRange
from domain.programs import ProgramRules
from service.db import Database
from service.repositories.basis import match_stages, signed_value


async def stored_net(db: Database, program_code: str, period_names: Iterable[str]
                     ) -> dict[str, dict[str, Decimal]]:
    """Per period and dealer, the net the program's stored accruals hold (one read per
    period, on the (programCode, period) index)."""
    found: dict[str, dict[str, Decimal]] = {}
    for name in dict.fromkeys(period_names):
        cursor = db.accruals.find({"programCode": program_code, "period": name},
                                  {"dealerCode": 1, "netAmount": 1, "_id": 0})
        found[name] = {doc["dealerCode"]: Decimal(doc["netAmount"]) async for doc in cursor}
    return found


async def basis_by_product(db: Database, rules: ProgramRules, window: DateRange
                           ) -> dict[str, dict[str, Decimal]]:
    """Per dealer and product, the basis the program counts in `window` (its currency only;
    a transaction without a product under NO_GROUP), aggregated from the transactions by
    the program's own counting rule: per dealer the products add up to the engine's basis."""
    cursor = await db.transactions.aggregate([
        *match_stages(rules, window, None),
        {"$match": {"currency": rules.currency}},
        {"$group": {"_id": {"dealer": "$dealerCode", "product": "$productCode"},
                    "sum": {"$sum": signed_value(rules)}}},
    ])
    found: dict[str, dict[str, Decimal]] = {}
    async for row in cursor:
        product = row["_id"].get("product") or NO_GROUP
        products = found.setdefault(row["_id"]["dealer"], {})
        products[product] = products.get(product, Decimal(0)) + Decimal(row["sum"])
    return found


async def scores_of(db: Database, template_code: str, period_name: str) -> list[Scored]:
    """Every dealer's score and multiplier under a template for a period."""
    cursor = db.scorecards.find({"templateCode": template_code, "period": period_name},
                                {"dealerCode": 1, "score": 1, "multiplier": 1, "_id": 0})
    return [Scored(doc["dealerCode"], Decimal(doc["score"]), Decimal(doc["multiplier"]))
            async for doc in cursor]
