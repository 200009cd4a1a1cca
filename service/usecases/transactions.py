"""recordTransactions: validate every row, store the good ones once, report the rest by index."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from domain.basis import BASIS_RULES, QUANTITY, TransactionKind
from domain.programs import ProgramStatus
from domain.sales_ledger import Cells, cells_of
from domain.text import Text
from domain.tiers import RebateBasis
from domain.transactions import RowError, Transaction, validate_row
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.errors import InvalidArgument
from service.repositories import audit, ids, pending, sales_ledger
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import transactions as txn_repo
from service.repositories.programs import StoredProgram
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


def _quantity_products(programs: Sequence[StoredProgram]) -> tuple[bool, set[str]]:
    """(every product needs a quantity, the products that do) — from active QUANTITY programs."""
    every, products = False, set[str]()
    for program in programs:
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


async def record_transactions(deps: Deps, actor: Principal, rows: Sequence[TransactionRow],
                              *, last_batch: bool = False) -> RecordResult:
    """Store a batch of sales facts and everything that follows from them. `last_batch`: an
    import's last (the worker computes as soon as it is stored: see AccrualWorker)."""
    if len(rows) > MAX_ROWS:
        raise InvalidArgument("input.transactions",
                              f"{len(rows)} rows: at most {MAX_ROWS} per call")
    result = RecordResult()
    # read once for the whole call: the dealers (which exist, their regions, who sells for
    # the first time) and the active programs (which rows need a quantity, what to mark)
    known = await dealer_repo.sales_facts(deps.db, (r.dealer_code.strip() for r in rows))
    programs = await program_repo.list_programs(deps.db, status=ProgramStatus.ACTIVE)
    every, products = _quantity_products(programs)
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
                                          Text("no dealer with code {code}",
                                               code=repr(checked.dealer_code)),
                                          "NOT_FOUND"))
        elif checked.external_id in fresh:
            _same_or_conflict(result, index, checked, fresh[checked.external_id][1].fingerprint)
        else:
            fresh[checked.external_id] = (index, checked)
    batch_id = str(ids.new_id())  # also the id of the batch's audit event
    now = deps.now()
    mark = pending.marker(now, actor, rows=len(rows))
    docs = [txn_repo.to_doc(t, batch_id=batch_id, actor=actor.sub, now=now)
            for _, t in fresh.values()]
    # The intent first: whatever stops this call after it, the recovery pass (or a re-send
    # of the same rows) finds the batch still pending and does the rest.
    if docs:
        await sales_ledger.state(deps.db)  # exists before any row it must count is stored
        await txn_repo.begin_batch(deps.db, batch_id, pending=mark, last_batch=last_batch)
    raced = await txn_repo.insert_new(deps.db, docs)
    failpoints.hit("transactions.after_insert")
    earlier: set[str] = set()
    if raced:
        stored = await txn_repo.stored_rows(deps.db, raced)
        for external_id in raced:
            index, txn = fresh.pop(external_id)
            found = stored.get(external_id)
            _same_or_conflict(result, index, txn, found.fingerprint if found else "")
            if found is not None and found.batch_id is not None:
                earlier.add(found.batch_id)
    inserted = [t for _, t in fresh.values()]
    result.accepted = len(inserted)
    result.errors.sort(key=lambda e: e.index)
    # a re-send of rows whose first call stopped half-way finishes that call
    for batch in await txn_repo.unfinished_batches(deps.db, earlier - {batch_id}):
        await finish_batch(deps, batch)
    summary = {"accepted": result.accepted, "duplicates": result.duplicates,
               "errors": len(result.errors), "rows": len(rows)}
    await follow_up(deps, batch_id, inserted, mark, audit_after=summary,
                    read=CallReads(known, programs), last_batch=last_batch)
    return result


async def finish_batch(deps: Deps, batch: dict[str, Any]) -> None:
    """Complete the follow-ups of a batch whose call stopped (its marker still there)."""
    rows = await txn_repo.batch_rows(deps.db, batch["_id"])
    await follow_up(deps, batch["_id"], rows, batch[pending.FIELD], recovered=True)


async def recheck_batch(deps: Deps, batch: dict[str, Any]) -> None:
    """A recovered batch: rows of the dead call's insert may have landed since."""
    if await txn_repo.count_rows(deps.db, batch["_id"]) != batch["recheck"]["rows"]:
        rows = await txn_repo.batch_rows(deps.db, batch["_id"])
        await follow_up(deps, batch["_id"], rows, None, recovered=True)
    elif batch["recheck"]["until"] <= deps.now():
        await txn_repo.end_recheck(deps.db, batch["_id"])


@dataclass(frozen=True)
class CallReads:
    """What the recording call read already, so that its follow-ups need not read it again
    (a recovery, without them, reads them itself)."""

    dealers: Mapping[str, dealer_repo.SalesFacts]
    programs: Sequence[StoredProgram]


async def follow_up(deps: Deps, batch_id: str, inserted: list[Transaction],
                    mark: dict[str, Any] | None, *, audit_after: dict[str, Any] | None = None,
                    recovered: bool = False, read: CallReads | None = None,
                    last_batch: bool = False) -> None:
    """Everything that follows storing a batch's rows, each step idempotent, the batch's
    pending marker cleared last."""
    if inserted:
        dealers = sorted({t.dealer_code for t in inserted})
        # the ledger first: a recomputation marked below must find these rows in it
        await sales_ledger.record_rows(deps.db, batch_id, _rows_of(deps, batch_id, inserted,
                                                                  recovered), now=deps.now())
        await dealer_repo.note_first_sales(deps.db, dealers, read.dealers if read else None)
        await sales_ledger.next_sales_stamp(deps.db, last_batch=last_batch)
        failpoints.hit("transactions.after_version")
        await accrual_jobs.mark_transactions(deps, inserted,
                                             programs=read.programs if read else None)
        failpoints.hit("transactions.after_marks")
        await membership.refresh_dealers_for_sales(deps, dealers)  # marks who moved
        await alerts.check_cross_region(deps, inserted, batch_id, homes=None if read is None
                                        else {c: f.region for c, f in read.dealers.items()})
    if mark is not None:
        after = audit_after or {"accepted": len(inserted), "rows": mark.get("rows"),
                                "completedAfterInterruption": True}
        await audit.append(deps.db, actor=pending.actor_of(mark), action="recordTransactions",
                           entity_type="TransactionBatch", entity_id=batch_id, before=None,
                           after=after, now=mark["since"], event_id=ids.parse_id(batch_id))
    failpoints.hit("transactions.after_follow_ups")
    await txn_repo.finish_batch(deps.db, batch_id, rows=len(inserted), recovered=recovered,
                                now=deps.now())


def _rows_of(deps: Deps, batch_id: str, inserted: list[Transaction],
             recovered: bool) -> Callable[[], Awaitable[Cells]]:
    """The batch's rows for its ledger delta: the live call inserted them all; a recovery
    counts what is stored (read after the deltas: rows of a dead writer may still land)."""
    async def stored() -> Cells:
        return cells_of(await txn_repo.ledger_rows(deps.db, batch_id))

    async def given() -> Cells:
        return cells_of(inserted)
    return stored if recovered else given


def _same_or_conflict(result: RecordResult, index: int, txn: Transaction,
                      stored_fingerprint: str) -> None:
    if txn.fingerprint == stored_fingerprint:
        result.duplicates += 1
    else:
        result.errors.append(RowError(
            index, txn.external_id,
            Text("externalId {id} was already recorded with different content; nothing "
                 "changed", id=repr(txn.external_id)), "CONFLICT"))
