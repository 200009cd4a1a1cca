"""setTargets: dealer targets (销售任务) per program period, all rows valid or none stored.

A target is money (or units, for a QUANTITY program) that a TARGET_ACHIEVEMENT program
measures the dealer's basis against. Changing one changes the accruals of its period, and
under YEAR_TO_DATE of every later period (their cumulative target is a sum over 1..n), so
those are marked for the worker, which also releases accruals held for "no target set".
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain.codes import clean_code
from domain.errors import Problems, message_of
from domain.periods import parse_period, program_period
from domain.programs import Accumulation, ProgramStatus, started_periods
from domain.text import Text
from domain.tiers import RebateBasis
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.errors import InvalidArgument
from service.repositories import audit, ledger, pending
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import targets as target_repo
from service.repositories.ids import new_id
from service.repositories.programs import StoredProgram
from service.repositories.targets import Target
from service.usecases import accrual_jobs

MAX_ROWS = 5000
MONEY_PLACES = 2


@dataclass(frozen=True)
class TargetRow:
    dealer_code: str
    period: str
    amount: Decimal


@dataclass(frozen=True)
class SetTargetsResult:
    targets: list[Target]  # every row of the call, as stored now
    changed: int  # rows that changed a stored amount (the others already held it)


def _places(amount: Decimal) -> int:
    exponent = amount.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _check_amount(amount: Decimal, basis: RebateBasis | None, path: tuple[str, ...],
                  problems: Problems) -> None:
    """In the basis's unit: money has cents; a QUANTITY target may be fractional units
    (tonnes, litres) as far as the Decimal scalar's 6 places go."""
    if amount <= 0:
        problems.add(path, Text("must be greater than 0"))
    elif basis is not RebateBasis.QUANTITY and _places(amount) > MONEY_PLACES:
        problems.add(path, Text("is money: at most {places} decimal places",
                                places=MONEY_PLACES))


def _check_period(name: str, program: StoredProgram | None, locked: set[str],
                  path: tuple[str, ...], problems: Problems) -> str | None:
    text = name.strip()
    try:
        if program is None:
            return parse_period(text).name
        rules = program.rules
        period = program_period(text, rules.period_kind, rules.valid_from, rules.valid_to)
    except ValueError as error:
        problems.add(path, message_of(error))
        return None
    if period.name in locked:
        problems.add(path, Text("{period} is closed: its target can no longer change",
                                period=period.name), "LOCKED")
        return None
    return period.name


async def _validate(deps: Deps, program_code: str, rows: Sequence[TargetRow],
                    ) -> tuple[StoredProgram, list[tuple[str, str, Decimal]]]:
    """Every problem of the call at once (by row index), or the clean rows."""
    problems = Problems()
    code = clean_code(program_code, ("input", "programCode"), problems)
    program = await program_repo.get(deps.db, code) if not problems else None
    if program is None and not problems:
        problems.add(("input", "programCode"),
                     Text("no program with code {code}", code=repr(code)), "NOT_FOUND")
    locked = set(await ledger.locks(deps.db, code)) if program is not None else set()
    known = await dealer_repo.existing_codes(deps.db, (r.dealer_code.strip() for r in rows))
    basis = program.rules.basis if program is not None else None
    seen: dict[tuple[str, str], int] = {}
    clean: list[tuple[str, str, Decimal]] = []
    for index, row in enumerate(rows):
        at = ("input", "targets", str(index))
        before = len(problems.items)
        dealer = clean_code(row.dealer_code, (*at, "dealerCode"), problems)
        if len(problems.items) == before and dealer not in known:
            problems.add((*at, "dealerCode"),
                         Text("no dealer with code {code}", code=repr(dealer)), "NOT_FOUND")
        period = _check_period(row.period, program, locked, (*at, "period"), problems)
        _check_amount(row.amount, basis, (*at, "amount"), problems)
        if period is not None and len(problems.items) == before:
            first = seen.setdefault((dealer, period), index)
            if first != index:
                problems.add(at, Text("row {first} already sets the target of {dealer} for "
                                      "{period}", first=first, dealer=dealer, period=period),
                             "CONFLICT")
            else:
                clean.append((dealer, period, row.amount))
    problems.raise_if_any()
    assert program is not None
    return program, clean


async def set_targets(deps: Deps, actor: Principal, program_code: str,
                      rows: Sequence[TargetRow]) -> SetTargetsResult:
    if len(rows) > MAX_ROWS:
        raise InvalidArgument("input.targets", f"{len(rows)} rows: at most {MAX_ROWS} per call")
    program, clean = await _validate(deps, program_code, rows)
    code = program.code
    # A re-send after a call that stopped half-way finishes that call's batch now, rather
    # than after the recovery grace period (completing is idempotent, even alongside it).
    for batch in await target_repo.unfinished_batches(deps.db, code):
        await complete(deps, batch)
    before = await target_repo.stored(deps.db, code, ((d, p) for d, p, _ in clean))
    changes = [target_repo.row_doc(d, p, amount, before.get((d, p)), new_id())
               for d, p, amount in clean if before.get((d, p)) != amount]
    if changes:
        batch_id = str(new_id())
        mark = pending.marker(deps.now(), actor, rows=len(rows))
        # The intent first: whatever stops this call after it, the recovery pass finds the
        # batch still pending and does the rest (a re-send finds nothing left to change).
        await target_repo.begin_batch(deps.db, batch_id, program_code=code, rows=changes,
                                      pending=mark)
        await complete(deps, {"_id": batch_id, "programCode": code, "rows": changes,
                              pending.FIELD: mark})
    stored = await target_repo.stored(deps.db, code, ((d, p) for d, p, _ in clean))
    return SetTargetsResult(
        targets=[Target(code, d, p, stored.get((d, p), amount)) for d, p, amount in clean],
        changed=len(changes))


async def complete(deps: Deps, batch: dict[str, Any]) -> None:
    """Everything a batch of target changes does, each step idempotent, the marker cleared
    last: the targets written (a newer write of the same target wins), the accruals marked,
    one audit event per changed target."""
    mark = batch.get(pending.FIELD)
    if mark is None:
        return
    code, rows = batch["programCode"], batch["rows"]
    actor = pending.actor_of(mark)
    await target_repo.write(deps.db, code, rows, actor=actor.sub, now=mark["since"])
    failpoints.hit("targets.after_write")
    program = await program_repo.get(deps.db, code)
    if program is not None and program.status is not ProgramStatus.DRAFT:
        await accrual_jobs.mark(deps, _marks(deps, program, rows))
    failpoints.hit("targets.after_marks")
    await audit.write_many(deps.db, [
        audit.event(actor=actor, action="setTargets", entity_type="Target",
                    entity_id=target_repo.target_id(code, r["dealerCode"], r["period"]),
                    before=None if r["before"] is None else {"amount": r["before"]},
                    after={"amount": r["amount"]}, now=mark["since"],
                    dealer_code=r["dealerCode"], event_id=r["eventId"])
        for r in rows])
    await target_repo.finish_batch(deps.db, batch["_id"])


def _marks(deps: Deps, program: StoredProgram, rows: Sequence[dict[str, Any]],
           ) -> dict[tuple[str, str], set[str]]:
    """(dealer, program) → the started periods whose accrual a changed target moves: its
    own, and under YEAR_TO_DATE every later one (the cumulative target is Σ 1..n)."""
    rules = program.rules
    started = started_periods(rules, deps.today())
    marks: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        changed = parse_period(row["period"], rules.period_kind)
        hit = [p for p in started if p.start >= changed.start] \
            if rules.accumulation is Accumulation.YEAR_TO_DATE \
            else [p for p in started if p.name == changed.name]
        if hit:
            marks[(row["dealerCode"], program.code)].update(p.name for p in hit)
    return marks
