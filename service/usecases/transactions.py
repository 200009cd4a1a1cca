"""recordTransactions: validate every row, store the good ones once, report the rest by index."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from bson import ObjectId

from domain.basis import BASIS_RULES, QUANTITY, TransactionKind
from domain.programs import ProgramStatus
from domain.tiers import RebateBasis
from domain.transactions import RowError, Transaction, validate_row
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.errors import InvalidArgument
from service.repositories import audit, pending
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
    batch_id = str(ObjectId())  # also the id of the batch's audit event
    now = deps.now()
    mark = pending.marker(now, actor, rows=len(rows))
    docs = [txn_repo.to_doc(t, batch_id=batch_id, actor=actor.sub, now=now, pending=mark)
            for _, t in fresh.values()]
    # Rows first, each carrying its batch's pending marker: whatever stops this call after
    # the insert, the recovery pass (or a re-send) finds the marker and does the rest.
    raced = await txn_repo.insert_new(deps.db, docs)
    failpoints.hit("transactions.after_insert")
    unfinished: set[str] = set()
    if raced:
        stored = await txn_repo.stored_rows(deps.db, raced)
        for external_id in raced:
            index, txn = fresh.pop(external_id)
            found = stored.get(external_id)
            _same_or_conflict(result, index, txn, found.fingerprint if found else "")
            if found is not None and found.pending_batch is not None:
                unfinished.add(found.pending_batch)
    inserted = [t for _, t in fresh.values()]
    result.accepted = len(inserted)
    result.errors.sort(key=lambda e: e.index)
    for earlier in sorted(unfinished):  # a re-send of rows whose first call stopped half-way
        await finish_batch(deps, earlier)
    summary = {"accepted": result.accepted, "duplicates": result.duplicates,
               "errors": len(result.errors), "rows": len(rows)}
    if inserted:
        await follow_up(deps, batch_id, inserted, mark, audit_after=summary)
    else:
        await audit.append(deps.db, actor=actor, action="recordTransactions",
                           entity_type="TransactionBatch", entity_id=batch_id, before=None,
                           after=summary, now=now)
    return result


async def finish_batch(deps: Deps, batch_id: str) -> None:
    """Complete the follow-ups of a batch whose call stopped after storing its rows."""
    docs = await txn_repo.pending_batch(deps.db, batch_id)
    if docs:  # else finished meanwhile by another caller
        await follow_up(deps, batch_id, [txn_repo.from_doc(d) for d in docs],
                        docs[0][pending.FIELD])


async def follow_up(deps: Deps, batch_id: str, inserted: list[Transaction],
                    mark: dict[str, Any], *,
                    audit_after: dict[str, Any] | None = None) -> None:
    """Everything that follows storing a batch's rows, each step idempotent, the pending
    marker cleared last."""
    dealers = sorted({t.dealer_code for t in inserted})
    await dealer_repo.bump_sales_version(deps.db, dealers)
    failpoints.hit("transactions.after_version")
    await accrual_jobs.mark_transactions(deps, inserted)
    failpoints.hit("transactions.after_marks")
    await membership.refresh_dealers_for_sales(deps, dealers)  # marks who moved
    await alerts.check_cross_region(deps, inserted, batch_id)
    after = audit_after or {"accepted": len(inserted), "rows": mark.get("rows"),
                            "completedAfterInterruption": True}
    await audit.append(deps.db, actor=pending.actor_of(mark), action="recordTransactions",
                       entity_type="TransactionBatch", entity_id=batch_id, before=None,
                       after=after, now=mark["since"], event_id=ObjectId(batch_id))
    failpoints.hit("transactions.after_follow_ups")
    await txn_repo.clear_batch(deps.db, batch_id)


def _same_or_conflict(result: RecordResult, index: int, txn: Transaction,
                      stored_fingerprint: str) -> None:
    if txn.fingerprint == stored_fingerprint:
        result.duplicates += 1
    else:
        result.errors.append(RowError(
            index, txn.external_id,
            f"externalId {txn.external_id!r} was already recorded with different content; "
            "nothing changed", "CONFLICT"))
