"""recordTransactions: validate every row, store the good ones once, report the rest by index."""
from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.basis import BASIS_RULES, QUANTITY, TransactionKind
from domain.programs import ProgramStatus
from domain.tiers import RebateBasis
from domain.transactions import RowError, Transaction, validate_row
from service.auth import Principal
from service.deps import Deps
from service.errors import InvalidArgument
from service.repositories import audit
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import transactions as txn_repo
from service.usecases import accrual_jobs, alerts, membership

MAX_ROWS = 5000


@dataclass(frozen=True)
class TransactionRow:
    """A row as the caller sent it (scalars already parsed by the API or the CSV reader)."""

    external_id: str
    dealer_code: str
    kind: TransactionKind
    date: date
    amount: Decimal
    currency: str
    product_code: str | None = None
    quantity: Decimal | None = None
    region: str | None = None


@dataclass
class RecordResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)


async def _quantity_products(deps: Deps) -> tuple[bool, set[str]]:
    """(every product needs a quantity, the products that do) — from active QUANTITY programs."""
    every, products = False, set[str]()
    for program in await program_repo.list_programs(deps.db, status=ProgramStatus.ACTIVE):
        if program.rules.basis is RebateBasis.QUANTITY:
            if not program.rules.product_codes:
                every = True
            products.update(program.rules.product_codes)
    return every, products


def _needs_quantity(row: TransactionRow, every: bool, products: set[str]) -> bool:
    counted_kinds = BASIS_RULES[RebateBasis.QUANTITY]
    if row.kind not in counted_kinds or counted_kinds[row.kind].field != QUANTITY:
        return False
    return every or (row.product_code or "").strip() in products


async def record_transactions(deps: Deps, actor: Principal,
                              rows: Sequence[TransactionRow]) -> RecordResult:
    if len(rows) > MAX_ROWS:
        raise InvalidArgument("input.transactions",
                              f"{len(rows)} rows: at most {MAX_ROWS} per call")
    result = RecordResult()
    known = await dealer_repo.existing_codes(deps.db, (r.dealer_code.strip() for r in rows))
    every, products = await _quantity_products(deps)
    today = deps.today()
    fresh: dict[str, tuple[int, Transaction]] = {}
    for index, row in enumerate(rows):
        checked = validate_row(
            index, external_id=row.external_id, dealer_code=row.dealer_code, kind=row.kind,
            day=row.date, amount=row.amount, currency=row.currency,
            product_code=row.product_code, quantity=row.quantity, region=row.region,
            today=today, quantity_required=_needs_quantity(row, every, products))
        if isinstance(checked, RowError):
            result.errors.append(checked)
        elif checked.dealer_code not in known:
            result.errors.append(RowError(index, checked.external_id,
                                          f"no dealer with code {checked.dealer_code!r}",
                                          "NOT_FOUND"))
        elif checked.external_id in fresh:
            _same_or_conflict(result, index, checked, fresh[checked.external_id][1].fingerprint)
        else:
            fresh[checked.external_id] = (index, checked)
    batch_id = uuid.uuid4().hex
    now = deps.now()
    docs = [txn_repo.to_doc(t, batch_id=batch_id, actor=actor.sub, now=now)
            for _, t in fresh.values()]
    # Shielded: once rows are stored, their dirty marks and audit event must follow even if
    # the request is cancelled at its time budget, or no worker would ever recompute them.
    await asyncio.shield(_store(deps, actor, rows, result, fresh, docs, batch_id, now))
    return result


async def _store(deps: Deps, actor: Principal, rows: Sequence[TransactionRow],
                 result: RecordResult, fresh: dict[str, tuple[int, Transaction]],
                 docs: list[dict[str, Any]], batch_id: str, now: dt.datetime) -> None:
    # Insert first: the unique index finds rows already stored far faster than a lookup of
    # every externalId would; only those rows' fingerprints are then read.
    raced = await txn_repo.insert_new(deps.db, docs)
    if raced:
        stored = await txn_repo.fingerprints(deps.db, raced)
        for external_id in raced:
            index, txn = fresh.pop(external_id)
            _same_or_conflict(result, index, txn, stored.get(external_id, ""))
    inserted = [t for _, t in fresh.values()]
    result.accepted = len(inserted)
    result.errors.sort(key=lambda e: e.index)
    if inserted:
        await _after_insert(deps, inserted, batch_id)
    await audit.append(deps.db, actor=actor, action="recordTransactions",
                       entity_type="TransactionBatch", entity_id=batch_id, before=None,
                       after={"accepted": result.accepted, "duplicates": result.duplicates,
                              "errors": len(result.errors), "rows": len(rows)}, now=now)


def _same_or_conflict(result: RecordResult, index: int, txn: Transaction,
                      stored_fingerprint: str) -> None:
    if txn.fingerprint == stored_fingerprint:
        result.duplicates += 1
    else:
        result.errors.append(RowError(
            index, txn.external_id,
            f"externalId {txn.external_id!r} was already recorded with different content; "
            "nothing changed", "CONFLICT"))


async def _after_insert(deps: Deps, inserted: list[Transaction], batch_id: str) -> None:
    """New sales: bump the dealers' sales version, queue recomputation, refresh segments."""
    dealers = sorted({t.dealer_code for t in inserted})
    await dealer_repo.bump_sales_version(deps.db, dealers)
    await accrual_jobs.mark_transactions(deps, inserted)
    changed = await membership.refresh_dealers_for_sales(deps, dealers)
    await accrual_jobs.mark_dealers_everywhere(deps, changed)
    await alerts.check_cross_region(deps, inserted, batch_id)
