"""Anomaly alerts: raised by the engine for staff to review, never penalties by themselves.

CROSS_REGION is checked on every recorded batch; SURGE after a program period is computed.
Both are idempotent: an anomaly has one unique key, so checking again never duplicates an
alert and never reopens one that staff have acknowledged or dismissed.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from domain.alerts import (
    LISTED_IDS_MAX,
    Alert,
    AlertDraft,
    AlertKind,
    AlertStatus,
    PeriodBasis,
    average,
    can_move,
    clean_note,
    comparable,
    cross_region,
    cross_region_key,
    cross_region_message,
    history_periods,
    is_surge,
    surge_key,
    surge_message,
)
from domain.errors import Conflict, NotFound, Problems
from domain.money import ZERO, round_money
from domain.periods import parse_period
from domain.text import Text
from domain.transactions import Transaction
from service.auth import Principal
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.repositories import alerts as alert_repo
from service.repositories import audit, pending
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories.programs import StoredProgram


async def _dealer_field(deps: Deps, codes: Iterable[str], name: str) -> dict[str, Any]:
    return await dealer_repo.field_of(deps.db, codes, name)


async def check_cross_region(deps: Deps, transactions: Sequence[Transaction],
                             batch_id: str, *, homes: Mapping[str, str | None] | None = None
                             ) -> int:
    """One alert per dealer per batch for goods reported outside the dealer's region (窜货).
    `homes`: the dealers' regions, if the caller has read them already."""
    with_region = [t for t in transactions if t.region]
    if not with_region:
        return 0
    if homes is None:
        homes = await _dealer_field(deps, {t.dealer_code for t in with_region}, "region")
    moved: dict[str, list[Transaction]] = {}
    for txn in with_region:
        if cross_region(txn.region, homes.get(txn.dealer_code)):
            moved.setdefault(txn.dealer_code, []).append(txn)
    drafts = []
    for code, found in moved.items():
        home = homes[code]
        assert home is not None
        regions = sorted({(t.region or "").strip() for t in found})
        drafts.append(AlertDraft(
            key=cross_region_key(code, batch_id), kind=AlertKind.CROSS_REGION,
            dealer_code=code,
            message=cross_region_message(dealer_code=code, dealer_region=home,
                                         regions=regions, count=len(found)),
            details={"batchId": batch_id, "dealerRegion": home, "regions": regions,
                     "count": len(found),
                     "externalIds": [t.external_id for t in found[:LISTED_IDS_MAX]],
                     "listed": min(len(found), LISTED_IDS_MAX)}))
    return await alert_repo.raise_alerts(deps.db, drafts, now=deps.now())


async def check_surges(deps: Deps, program_code: str, period_name: str,
                       dealer_codes: Sequence[str] | None, *,
                       program: StoredProgram | None = None,
                       bases: Mapping[str, Mapping[str, Decimal]] | None = None) -> int:
    """SURGE alerts for a computed program period (None: every dealer with an accrual).

    Each dealer's period `basis` is compared with its accruals of the three periods right
    before. A missing earlier accrual counts as basis 0: the engine writes an accrual only
    for a dealer with business in the period, so none means nothing was counted. But the
    three periods must be fair history — the program ran all of each and the dealer had
    joined by its start — else there is no verdict (a ramp-up is not stuffing).

    Cheap enough to run after every computation: one read of the program, one of the
    accruals of those four periods for all the dealers, the joining dates only of dealers
    that look like a surge, and one bulk write (a caller holding the program passes it and
    saves the first read; a round that has just written every accrual of these periods
    passes their bases, per dealer and period, and saves the second). Returns how many
    alerts were newly raised.
    """
    if dealer_codes is not None and not dealer_codes:
        return 0
    if program is None or program.code != program_code:
        program = await program_repo.get(deps.db, program_code)
    if program is None:
        return 0
    rules = program.rules
    try:
        period = parse_period(period_name, rules.period_kind)
    except ValueError:
        return 0
    history = history_periods(period)
    if not comparable(history[0], valid_from=rules.valid_from, joined_on=None):
        return 0  # the program has not run three full periods before this one
    figures = bases if bases is not None else await accrual_repo.bases_by_period(
        deps.db, rules.code, [p.name for p in (*history, period)],
        start=history[0].start, last_start=period.start,
        dealer_codes=list(dict.fromkeys(dealer_codes)) if dealer_codes is not None else None)
    suspects: dict[str, list[PeriodBasis]] = {}
    for code, found in figures.items():
        previous = [PeriodBasis(p.name, found.get(p.name, ZERO)) for p in history]
        if period.name in found and is_surge(found[period.name], [p.basis for p in previous]):
            suspects[code] = previous
    if not suspects:
        return 0
    joined_on = await _dealer_field(deps, suspects, "joinedOn")
    drafts = []
    for code, previous in sorted(suspects.items()):
        joined = joined_on.get(code)
        if not all(comparable(p, valid_from=rules.valid_from,
                              joined_on=date.fromisoformat(joined) if joined else None)
                   for p in history):
            continue
        basis = figures[code][period.name]
        drafts.append(AlertDraft(
            key=surge_key(code, rules.code, period.name), kind=AlertKind.SURGE,
            dealer_code=code, program_code=rules.code, period=period.name,
            message=surge_message(dealer_code=code, program_code=rules.code, period=period,
                                  basis=basis, previous=previous, basis_kind=rules.basis,
                                  currency=rules.currency),
            details={"basisKind": rules.basis.value, "basis": basis,
                     "previous": [{"period": p.period, "basis": p.basis} for p in previous],
                     "average": round_money(average([p.basis for p in previous]))}))
    return await alert_repo.raise_alerts(deps.db, drafts, now=deps.now())


async def acknowledge_alert(deps: Deps, actor: Principal, key: str,
                            note: str | None = None) -> Alert:
    """Someone is looking into it (only an OPEN alert)."""
    return await _move(deps, actor, key, note, AlertStatus.ACKNOWLEDGED, "acknowledgeAlert")


async def dismiss_alert(deps: Deps, actor: Principal, key: str,
                        note: str | None = None) -> Alert:
    """Reviewed and closed (an OPEN or ACKNOWLEDGED alert); it is never raised again."""
    return await _move(deps, actor, key, note, AlertStatus.DISMISSED, "dismissAlert")


async def _move(deps: Deps, actor: Principal, key: str, note: str | None,
                target: AlertStatus, action: str) -> Alert:
    problems = Problems()
    cleaned = clean_note(note, ("input", "note"), problems)
    before = await alert_repo.get_doc(deps.db, key)
    if before is None:
        raise NotFound(("input", "alertId"), Text("no such alert"))
    current = AlertStatus(before["status"])
    if not can_move(current, target):
        message = (Text("the alert is {status}; only an OPEN alert can be acknowledged",
                        status=current.value) if target is AlertStatus.ACKNOWLEDGED else
                   Text("the alert is {status}; only an OPEN or ACKNOWLEDGED alert can be "
                        "dismissed", status=current.value))
        problems.add(("input", "alertId"), message)
    problems.raise_if_any()
    now = deps.now()
    changes = alert_repo.move_changes(target=target, actor=actor.sub, note=cleaned, now=now)
    shown = pending.without_marker(before)
    event = audit.event(actor=actor, action=action, entity_type="Alert", entity_id=key,
                        before=shown, after={**shown, **changes}, now=now)
    after = await alert_repo.move(deps.db, key, expected=current, changes=changes,
                                  pending=pending.marker(now, actor, audit=event))
    if after is None:
        raise Conflict(("input", "alertId"),
                       Text("the alert changed meanwhile; reload and retry"))
    await pending.complete_audited(deps.db, pending.Holder.ALERT, after)
    return alert_repo.from_doc(after)
