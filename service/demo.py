"""A small demo dataset so that `make run` shows something real at once."""
from __future__ import annotations

import datetime as dt

from domain.segments import SegmentRule
from service.auth import Principal, Role
from service.deps import Deps
from service.usecases.dealers import upsert_dealer
from service.usecases.segments import upsert_segment

DEMO_ACTOR = Principal(sub="demo-loader", role=Role.ADMIN)

DEALERS = [
    # code, name, region, channel, joined on
    ("D001", "华东汽配 East Auto Parts", "EAST", "KA", dt.date(2019, 4, 1)),
    ("D002", "申城商贸 Shencheng Trading", "EAST", "RETAIL", dt.date(2021, 9, 15)),
    ("D003", "苏南分销 Sunan Distribution", "EAST", "RETAIL", dt.date(2025, 2, 1)),
    ("D004", "岭南电器 Lingnan Electric", "SOUTH", "KA", dt.date(2018, 1, 10)),
    ("D005", "珠江零售 Pearl River Retail", "SOUTH", "RETAIL", dt.date(2023, 6, 1)),
    ("D006", "京北贸易 Jingbei Trading", "NORTH", "ONLINE", dt.date(2022, 3, 20)),
]


async def is_empty(deps: Deps) -> bool:
    return (await deps.db.dealers.estimated_document_count() == 0
            and await deps.db.segments.estimated_document_count() == 0)


async def load(deps: Deps) -> None:
    for code, name, region, channel, joined_on in DEALERS:
        await upsert_dealer(deps, DEMO_ACTOR, code=code, name=name, region=region,
                            channel=channel, joined_on=joined_on,
                            attributes={"demo": True})
    await upsert_segment(deps, DEMO_ACTOR, code="KEY-ACCOUNTS", name="Key accounts (KA)",
                         description="Large chains served through the KA channel.",
                         priority=10, rule=SegmentRule(channels=("KA",)))
    await upsert_segment(deps, DEMO_ACTOR, code="EAST-LOYAL", name="East, 3+ years",
                         description="Loyal dealers of the East region.",
                         priority=20, rule=SegmentRule(regions=("EAST",), min_tenure_years=3))
    await upsert_segment(deps, DEMO_ACTOR, code="PILOT", name="New-product pilot",
                         description="Hand-picked dealers piloting the new range.",
                         priority=30, dealer_codes=["D003", "D006"])
