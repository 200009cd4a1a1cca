"""A small demo dataset so that `make run` shows something real at once.

6 dealers and 3 segments; two ACTIVE programs over the current year; a year of sales facts
(from 1 January up to yesterday, by the service's clock) and the accruals of every period
begun so far, computed before the service answers its first request. Deterministic: the
same date gives the same data (fixed seed), a few thousand rows at most, loaded in seconds.

- DEMO-COLLECT (回款返利): quarterly with annual true-up (YEAR_TO_DATE) on collected cash,
  retroactive tiers 0 → 1 %, 1,000,000 → 2 %; KEY-ACCOUNTS dealers 0 → 1.5 %,
  1,000,000 → 2.5 %. The KA dealers cross the million during the year: their true-up shows.
- DEMO-UNITS (新品返利): monthly, per unit of the new range (NX-100, NX-200) net of
  returns, retroactive 2.00 / unit, 100 units → 3.00, 250 units → 4.00; PILOT dealers get
  3.00 / 4.50 / 6.00. Other products (STD-10) are invoiced too but do not count.
- DEMO-TARGET (任务返利): quarterly, paid on how much of the quarter's sales target
  (销售任务) the dealer reaches: nothing below 90 %, 1 % from 90 %, 2 % from 100 %, 3 % from
  110 % (TARGET_ACHIEVEMENT). Targets follow the season: 95 % of the dealer's base in Q1
  (Spring Festival), 100 % in Q2, 110 % in Q3, 125 % in Q4 (the year-end push).
- DEMO-PUSH (现返): monthly stock push of the new range, every order of 5,000 or more earns
  2 % on its own (EACH_TRANSACTION); a return reverses what an order that size earns. Paid
  as CREDIT_NOTE valid 365 days: its first quarter's months are closed and settled, so the
  dealers' rebate accounts (返利账户) hold credits, and the CRM's order flow has used them:
  D001 has a captured order, D004 a reserved one, D002 one captured and partly refunded
  (returned goods). Key accounts may pay 30 % of an order with rebate, loyal East dealers
  10 % (segments' maxOrderOffsetPercent).
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from domain.basis import TransactionKind
from domain.periods import PeriodKind
from domain.programs import Accumulation, PayoutForm, ProgramRules, Terms, started_periods
from domain.segments import SegmentRule
from domain.tiers import RateKind, RebateBasis, Tier, TierEvaluation, TierMeasure, TierMode
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import dealers as dealer_repo
from service.repositories import segments as segment_repo
from service.usecases import rebate_accounts
from service.usecases.accruals import run_accruals
from service.usecases.closing import close_period
from service.usecases.dealers import upsert_dealer
from service.usecases.programs import create_program
from service.usecases.segments import upsert_segment
from service.usecases.settlement import settle
from service.usecases.targets import TargetRow, set_targets
from service.usecases.transactions import MAX_ROWS, TransactionRow, record_transactions

DEMO_ACTOR = Principal(sub="demo-loader", role=Role.ADMIN)
SEED = 20260101
CURRENCY = "CNY"

DEALERS = [
    # code, name, region, channel, joined on
    ("D001", "华东汽配 East Auto Parts", "EAST", "KA", dt.date(2019, 4, 1)),
    ("D002", "申城商贸 Shencheng Trading", "EAST", "RETAIL", dt.date(2021, 9, 15)),
    ("D003", "苏南分销 Sunan Distribution", "EAST", "RETAIL", dt.date(2025, 2, 1)),
    ("D004", "岭南电器 Lingnan Electric", "SOUTH", "KA", dt.date(2018, 1, 10)),
    ("D005", "珠江零售 Pearl River Retail", "SOUTH", "RETAIL", dt.date(2023, 6, 1)),
    ("D006", "京北贸易 Jingbei Trading", "NORTH", "ONLINE", dt.date(2022, 3, 20)),
]

# Weekly collected cash (min, max) and weekly invoice lines per dealer: the KA dealers
# collect about 1.3 million a year (the second tier), the others 0.3–0.6 million.
WEEKLY_PAYMENT = {"D001": (20_000, 32_000), "D004": (18_000, 30_000), "D002": (8_000, 14_000),
                  "D003": (5_000, 9_000), "D005": (6_000, 11_000), "D006": (7_000, 12_000)}
INVOICES_PER_WEEK = {"D001": 4, "D004": 4, "D002": 3, "D003": 3, "D005": 2, "D006": 3}
PRODUCTS = {"NX-100": Decimal("450.00"), "NX-200": Decimal("820.00"),
            "STD-10": Decimal("120.00")}
NEW_RANGE = ("NX-100", "NX-200")
# DEMO-TARGET: each dealer's quarterly sales target before the season's factor.
TARGET_BASE = {"D001": 240_000, "D002": 180_000, "D003": 190_000, "D004": 230_000,
               "D005": 130_000, "D006": 170_000}
SEASON = {1: Decimal("0.95"), 2: Decimal("1.00"), 3: Decimal("1.10"), 4: Decimal("1.25")}
# Rebate accounts: DEMO-PUSH credits, settled for the first quarter.
ACCOUNT_PROGRAM = "DEMO-PUSH"
CREDIT_VALIDITY_DAYS = 365
# The CRM's orders on those credits: dealer, order id, what became of it. Each uses 40 % of
# the dealer's credit on an order ten times that (within every segment's offset limit); the
# returned one gets half of it back.
ORDERS = [("D001", "DEMO-SO-D001-01", "CAPTURED"), ("D004", "DEMO-SO-D004-01", "RESERVED"),
          ("D002", "DEMO-SO-D002-01", "REFUNDED")]


def _tiers(*pairs: tuple[str, str]) -> tuple[Tier, ...]:
    return tuple(Tier(Decimal(threshold), Decimal(rate)) for threshold, rate in pairs)


def programs(year: int) -> list[ProgramRules]:
    valid_from, valid_to = dt.date(year, 1, 1), dt.date(year, 12, 31)
    return [
        ProgramRules(
            code="DEMO-COLLECT", name=f"回款返利 Collections rebate {year}",
            basis=RebateBasis.COLLECTED_AMOUNT, rate_kind=RateKind.PERCENT,
            tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.QUARTER,
            accumulation=Accumulation.YEAR_TO_DATE, valid_from=valid_from, valid_to=valid_to,
            currency=CURRENCY, payout_form=PayoutForm.CASH, tax_rate=Decimal("6"),
            terms=(Terms(None, _tiers(("0", "1"), ("1000000", "2"))),
                   Terms("KEY-ACCOUNTS", _tiers(("0", "1.5"), ("1000000", "2.5"))))),
        ProgramRules(
            code="DEMO-UNITS", name=f"新品返利 New range per unit {year}",
            basis=RebateBasis.QUANTITY, rate_kind=RateKind.PER_UNIT,
            tier_mode=TierMode.RETROACTIVE, period_kind=PeriodKind.MONTH,
            accumulation=Accumulation.PER_PERIOD, valid_from=valid_from, valid_to=valid_to,
            currency=CURRENCY, payout_form=PayoutForm.CREDIT_NOTE, product_codes=NEW_RANGE,
            terms=(Terms(None, _tiers(("0", "2.00"), ("100", "3.00"), ("250", "4.00"))),
                   Terms("PILOT", _tiers(("0", "3.00"), ("100", "4.50"), ("250", "6.00"))))),
        ProgramRules(
            code="DEMO-TARGET", name=f"任务返利 Quarterly target rebate {year}",
            basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
            tier_mode=TierMode.RETROACTIVE, tier_measure=TierMeasure.TARGET_ACHIEVEMENT,
            period_kind=PeriodKind.QUARTER, accumulation=Accumulation.PER_PERIOD,
            valid_from=valid_from, valid_to=valid_to, currency=CURRENCY,
            payout_form=PayoutForm.CASH, tax_rate=Decimal("6"),
            terms=(Terms(None, _tiers(("90", "1"), ("100", "2"), ("110", "3"))),)),
        ProgramRules(
            code="DEMO-PUSH", name=f"现返 New range stock push {year}",
            basis=RebateBasis.SALES_AMOUNT, rate_kind=RateKind.PERCENT,
            tier_mode=TierMode.RETROACTIVE, tier_evaluation=TierEvaluation.EACH_TRANSACTION,
            period_kind=PeriodKind.MONTH, accumulation=Accumulation.PER_PERIOD,
            valid_from=valid_from, valid_to=valid_to, currency=CURRENCY,
            payout_form=PayoutForm.CREDIT_NOTE, product_codes=NEW_RANGE,
            credit_validity_days=CREDIT_VALIDITY_DAYS,
            terms=(Terms(None, _tiers(("5000", "2"))),)),
    ]


def targets(year: int) -> list[TargetRow]:
    """DEMO-TARGET's quarterly targets: the dealer's base × the season's factor."""
    return [TargetRow(dealer_code=code, period=f"{year}-Q{quarter}",
                      amount=(Decimal(base) * factor).quantize(Decimal("0.01")))
            for code, base in TARGET_BASE.items() for quarter, factor in SEASON.items()]


def transactions(first: dt.date, last: dt.date) -> list[TransactionRow]:
    """Weekly payments and a few invoices a week per dealer, some returns, first..last."""
    rng = random.Random(SEED)  # noqa: S311 - demo data, not secrets
    rows: list[TransactionRow] = []
    for code, _name, region, _channel, _joined in DEALERS:
        low, high = WEEKLY_PAYMENT[code]
        day, number = first, 0
        while day <= last:
            week_end = min(day + dt.timedelta(days=6), last)
            span = (week_end - day).days
            number += 1
            amount = Decimal(rng.randrange(low * 100, high * 100)) / 100
            rows.append(TransactionRow(
                external_id=f"DEMO-{code}-PAY-{number:03d}", dealer_code=code,
                kind=TransactionKind.PAYMENT, date=day + dt.timedelta(days=rng.randint(0, span)),
                amount=amount, currency=CURRENCY))
            for line in range(INVOICES_PER_WEEK[code]):
                product = rng.choice(list(PRODUCTS))
                quantity = rng.randint(1, 12) if product in NEW_RANGE else rng.randint(10, 80)
                on = day + dt.timedelta(days=rng.randint(0, span))
                rows.append(TransactionRow(
                    external_id=f"DEMO-{code}-INV-{number:03d}-{line + 1}", dealer_code=code,
                    kind=TransactionKind.INVOICE, date=on, product_code=product,
                    quantity=Decimal(quantity), amount=PRODUCTS[product] * quantity,
                    currency=CURRENCY, region=region))
                if product in NEW_RANGE and rng.random() < 0.06 and on < last:
                    back = rng.randint(1, min(3, quantity))
                    rows.append(TransactionRow(
                        external_id=f"DEMO-{code}-RET-{number:03d}-{line + 1}",
                        dealer_code=code, kind=TransactionKind.RETURN,
                        date=on + dt.timedelta(days=1), product_code=product,
                        quantity=Decimal(back), amount=PRODUCTS[product] * back,
                        currency=CURRENCY, region=region))
            day = week_end + dt.timedelta(days=1)
    # a launch stocking order: D004 crosses the 100-unit tier of DEMO-UNITS in September
    launch = dt.date(first.year, 9, 10)
    if first <= launch <= last:
        rows.append(TransactionRow(
            external_id="DEMO-D004-LAUNCH-NX200", dealer_code="D004",
            kind=TransactionKind.INVOICE, date=launch, product_code="NX-200",
            quantity=Decimal(120), amount=PRODUCTS["NX-200"] * 120, currency=CURRENCY,
            region="SOUTH"))
    # ... and sends 10 units back in October: DEMO-PUSH reverses 2 % of 8,200.00 then
    returned = dt.date(first.year, 10, 8)
    if first <= returned <= last:
        rows.append(TransactionRow(
            external_id="DEMO-D004-LAUNCH-NX200-RET", dealer_code="D004",
            kind=TransactionKind.RETURN, date=returned, product_code="NX-200",
            quantity=Decimal(10), amount=PRODUCTS["NX-200"] * 10, currency=CURRENCY,
            region="SOUTH"))
    return rows


async def is_empty(deps: Deps) -> bool:
    return await dealer_repo.none_stored(deps.db) and await segment_repo.none_stored(deps.db)


async def load(deps: Deps) -> None:
    for code, name, region, channel, joined_on in DEALERS:
        await upsert_dealer(deps, DEMO_ACTOR, code=code, name=name, region=region,
                            channel=channel, joined_on=joined_on,
                            attributes={"demo": True})
    await upsert_segment(deps, DEMO_ACTOR, code="KEY-ACCOUNTS", name="Key accounts (KA)",
                         description="Large chains served through the KA channel.",
                         priority=10, rule=SegmentRule(channels=("KA",)),
                         max_order_offset_percent=Decimal(30))
    await upsert_segment(deps, DEMO_ACTOR, code="EAST-LOYAL", name="East, 3+ years",
                         description="Loyal dealers of the East region.",
                         priority=20, rule=SegmentRule(regions=("EAST",), min_tenure_years=3),
                         max_order_offset_percent=Decimal(10))
    await upsert_segment(deps, DEMO_ACTOR, code="PILOT", name="New-product pilot",
                         description="Hand-picked dealers piloting the new range.",
                         priority=30, dealer_codes=["D003", "D006"])
    await load_sales(deps)


async def load_sales(deps: Deps) -> None:
    """The programs, the year's transactions up to yesterday, and their accruals now."""
    yesterday = deps.today() - dt.timedelta(days=1)
    year = yesterday.year  # on 1 January: last year, which is complete
    rows = transactions(dt.date(year, 1, 1), yesterday)
    for start in range(0, len(rows), MAX_ROWS):
        result = await record_transactions(deps, DEMO_ACTOR, rows[start:start + MAX_ROWS])
        if result.errors:
            raise RuntimeError(f"demo transactions refused: {result.errors[:3]}")
    # Programs after the sales: activation queues one whole-program job each for the
    # worker, instead of one per dealer and program for every batch of sales.
    created = [await create_program(deps, DEMO_ACTOR, rules, activate=True)
               for rules in programs(year)]
    await set_targets(deps, DEMO_ACTOR, "DEMO-TARGET", targets(year))
    # Compute at once, so the first query shows accruals (the worker would get there too,
    # a few seconds later). One run a program is enough: a run first applies the program's
    # pending marks — activation marked every started period, a target its quarter — and
    # a YEAR_TO_DATE run covers its earlier periods anyway.
    for program in created:
        latest = started_periods(program.rules, deps.today())[-1:]
        for period in latest:
            await run_accruals(deps, DEMO_ACTOR, program.code, period.name)
    await load_accounts(deps, year)


async def load_accounts(deps: Deps, year: int) -> None:
    """DEMO-PUSH's first-quarter months closed and settled (those ended by today), then the
    CRM's orders on the credits: one captured, one reserved, one captured and refunded."""
    today = deps.today()
    for month in (1, 2, 3):
        period = f"{year}-{month:02d}"
        if dt.date(year, month + 1, 1) > today - dt.timedelta(days=1):
            break  # the month has not ended yet (the demo loaded on a day in the quarter)
        await close_period(deps, DEMO_ACTOR, ACCOUNT_PROGRAM, period)
        await settle(deps, DEMO_ACTOR, ACCOUNT_PROGRAM, period)
    held = await rebate_accounts.accounts(deps, [code for code, _, _ in ORDERS])
    for code, order_id, outcome in ORDERS:
        available = next((a.available(today) for a in held.get(code, [])
                          if a.currency == CURRENCY), Decimal(0))
        amount = (available * Decimal("0.4")).quantize(Decimal("0.01"))
        if amount <= 0:
            continue
        await rebate_accounts.reserve(deps, DEMO_ACTOR, dealer_code=code, order_id=order_id,
                                      order_amount=amount * 10, amount=amount,
                                      currency=CURRENCY)
        if outcome == "RESERVED":
            continue
        await rebate_accounts.capture(deps, DEMO_ACTOR, order_id=order_id)
        if outcome == "REFUNDED":
            await rebate_accounts.refund(deps, DEMO_ACTOR, order_id=order_id,
                                         amount=(amount / 2).quantize(Decimal("0.01")))
