"""What one period's figures are made of: the windows, each dealer's terms, the inputs
besides the basis (violations, scorecards, adjustments, earlier periods, targets), and the
pure step from them to an accrual's figures. Open and closed periods share all of it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from domain.accrual import AccrualFigures, CarriedIn, EarlierGross, accrue
from domain.achievement import WindowTarget, window_target
from domain.calculation import CalculationStep, foreign_currency_step
from domain.dealers import DealerStatus
from domain.money import ZERO
from domain.net import AccrualStatus, Adjustment, ScorecardResult, net_from_gross
from domain.periods import DateRange, Period, period_window, year_to_date_window
from domain.programs import Accumulation, Terms, choose_terms
from domain.text import Text
from domain.transaction_tiers import CountedTransaction
from domain.violations import Violation, forfeits_year, penalties_for
from service.deps import Deps
from service.repositories import accruals as accrual_repo
from service.repositories import dealers as dealer_repo
from service.repositories import ledger
from service.repositories import scorecards as scorecard_repo
from service.repositories import segments as segment_repo
from service.repositories import violations as violation_repo
from service.repositories.accruals import EarlierPeriods
from service.repositories.basis import DealerBasis, counted_transactions
from service.repositories.programs import StoredProgram
from service.repositories.query import LONG_LIST
from service.repositories.segments import priorities_taken
from service.repositories.targets import targets_for


def windows(program: StoredProgram, period: Period) -> tuple[DateRange | None,
                                                             DateRange | None]:
    """The period's own window and the basis window (validFrom on, for YEAR_TO_DATE)."""
    rules = program.rules
    window = period_window(period, rules.valid_from, rules.valid_to)
    if rules.accumulation is Accumulation.YEAR_TO_DATE:
        return window, year_to_date_window(period, rules.valid_from, rules.valid_to)
    return window, window


def validity(program: StoredProgram) -> DateRange:
    return DateRange(program.rules.valid_from, program.rules.valid_to)


@dataclass
class Known:
    """What a round over several periods has read already and is the same for all of
    them: the dealers with the terms they get, their violations over the program's
    validity, the names of its segments. Read for the first period that needs them, not
    again for each period (a dealer changed meanwhile is the next round's: its change
    marks its jobs dirty)."""

    dealers: dict[str, tuple[dict[str, Any], Terms | None]] = field(default_factory=dict)
    violations: dict[str, list[Violation]] = field(default_factory=dict)
    violations_read: set[str] = field(default_factory=set)  # dealers whose violations these are
    segment_names: dict[str, str] | None = None


async def dealer_terms(deps: Deps, program: StoredProgram, codes: Sequence[str],
                       known: Known | None = None,
                       ) -> dict[str, tuple[dict[str, Any], Terms | None]]:
    """Each dealer's document and the terms it gets (None: no terms apply). `known`: those
    read already are not read again."""
    missing = list(codes) if known is None else [c for c in codes if c not in known.dealers]
    found: dict[str, tuple[dict[str, Any], Terms | None]] = {}
    if missing:
        priorities = {code: priority
                      for priority, code in (await priorities_taken(deps.db)).items()}
        for doc in await dealer_repo.term_fields(deps.db, missing):
            memberships = [(s, priorities[s]) for s in doc.get("segmentCodes", ())
                           if s in priorities]
            found[doc["code"]] = (doc, choose_terms(program.rules.terms, memberships))
    if known is None:
        return found
    known.dealers.update(found)
    return {code: known.dealers[code] for code in codes if code in known.dealers}


async def violations_of(deps: Deps, program: StoredProgram, codes: Sequence[str],
                        known: Known | None = None) -> dict[str, list[Violation]]:
    """The dealers' violations over the program's validity (`known`: read once a round)."""
    rules = program.rules
    if known is None:
        return await violation_repo.for_dealers(deps.db, codes, start=rules.valid_from,
                                                end=rules.valid_to)
    missing = [code for code in codes if code not in known.violations_read]
    if missing:
        known.violations.update(await violation_repo.for_dealers(
            deps.db, missing, start=rules.valid_from, end=rules.valid_to))
        known.violations_read.update(missing)
    return {code: known.violations[code] for code in codes if code in known.violations}


@dataclass(frozen=True)
class Inputs:
    """Everything besides the basis that one period's figures depend on, for many dealers."""

    violations: dict[str, list[Violation]]
    scorecards: dict[str, ScorecardResult]
    adjustments: dict[str, list[Adjustment]]
    earlier: dict[str, EarlierPeriods]
    segment_names: dict[str, str]  # of the segments the program has terms for, by code
    window_periods: tuple[str, ...] = ()  # TARGET_ACHIEVEMENT: whose targets make the target
    targets: dict[str, dict[str, Decimal]] | None = None  # dealer → period → target
    transactions: dict[str, list[CountedTransaction]] | None = None  # EACH_TRANSACTION

    def target_of(self, code: str) -> WindowTarget | None:
        if self.targets is None:
            return None
        return window_target(self.window_periods, self.targets.get(code, {}))


def previous_period(program: StoredProgram, period: Period) -> Period | None:
    earlier = [p for p in program.rules.periods() if p.start < period.start]
    return earlier[-1] if earlier else None


async def dealer_targets(deps: Deps, program: StoredProgram, period_names: Sequence[str],
                         codes: Sequence[str]) -> dict[str, dict[str, Decimal]]:
    """Each dealer's targets of these periods, with one query for all of them."""
    found = await targets_for(deps.db, program.code,
                              list(codes) if len(codes) <= LONG_LIST else None, period_names)
    wanted = set(codes)
    targets: dict[str, dict[str, Decimal]] = {}
    for (dealer, name), amount in found.items():
        if dealer in wanted:
            targets.setdefault(dealer, {})[name] = amount
    return targets


async def gather_inputs(deps: Deps, program: StoredProgram, period: Period,
                        codes: Sequence[str], *, stored_history: bool = True,
                        earlier: Mapping[str, EarlierPeriods] | None = None,
                        known: Known | None = None,
                        adjustments: Mapping[str, list[Adjustment]] | None = None) -> Inputs:
    """One query per kind of input for all these dealers; targets, single transactions and
    carried amounts only for the programs that use them. `stored_history=False` leaves out
    what the program's own books hold (adjustments, earlier periods' accruals): a
    simulation keeps its earlier periods in memory (engine/simulation.py). `earlier`: the
    earlier periods as the caller knows them already (a round that computed them);
    `known`: what the round read for its earlier periods; `adjustments`: this period's,
    read by the caller (at least for these dealers)."""
    rules = program.rules
    scorecards: dict[str, ScorecardResult] = {}
    if rules.scorecard_template_code is not None:
        scorecards = await scorecard_repo.results_for(
            deps.db, rules.scorecard_template_code, period.name, codes)
    names: tuple[str, ...] = ()
    targets = transactions = None
    if rules.on_target:
        names = tuple(p.name for p in rules.window_periods(period))
        targets = await dealer_targets(deps, program, names, codes)
    if rules.each_transaction:
        window = period_window(period, rules.valid_from, rules.valid_to)
        assert window is not None
        transactions = await counted_transactions(deps.db, rules, window, codes)
    previous = previous_period(program, period)
    before = previous if rules.minimum_payout is not None else None
    if not stored_history:
        landing: Mapping[str, list[Adjustment]] = {}
    elif adjustments is not None:
        landing = {code: adjustments[code] for code in codes if code in adjustments}
    else:
        landing = await ledger.for_targets(deps.db, rules.code, period.name, codes)
    names_of_segments = known.segment_names if known is not None else None
    if names_of_segments is None:
        names_of_segments = await segment_names(deps, program)
        if known is not None:
            known.segment_names = names_of_segments
    return Inputs(
        violations=await violations_of(deps, program, codes, known),
        scorecards=scorecards,
        adjustments=dict(landing),
        earlier={code: earlier[code] for code in codes if code in earlier}
        if earlier is not None else
        await accrual_repo.earlier_periods(deps.db, rules.code, period, codes,
                                           previous=before.name if before else None)
        if previous is not None and stored_history else {},  # first period: nothing before
        segment_names=names_of_segments, window_periods=names,
        targets=targets, transactions=transactions)


async def segment_names(deps: Deps, program: StoredProgram) -> dict[str, str]:
    """The names the trace gives the terms applied ("terms for segment KA (Key accounts)")."""
    codes = [t.segment_code for t in program.rules.terms if t.segment_code is not None]
    if not codes:
        return {}
    return {code: segment.name
            for code, segment in (await segment_repo.get_many(deps.db, codes)).items()}


def figures_for(program: StoredProgram, period: Period, terms: Terms, basis: DealerBasis,
                inputs: Inputs, code: str, *, with_adjustments: bool = True,
                kept_gross: Decimal | None = None,
                dealer: dict[str, Any] | None = None) -> AccrualFigures:
    """`kept_gross`: take this gross (a closed period's) instead of recomputing it, and
    apply today's scorecard, penalties and cap to it. `with_adjustments=False` leaves out
    what lands on the accrual from elsewhere (adjustments, a carried amount) and the minimum
    payout: what a closed period is reconciled against. `dealer`: its document, for holds."""
    window = period_window(period, program.rules.valid_from, program.rules.valid_to)
    assert window is not None
    penalties = penalties_for(inputs.violations.get(code, []), period=window,
                              validity=validity(program))
    before = inputs.earlier.get(code, EarlierPeriods([], ZERO))
    adjustments = inputs.adjustments.get(code, ()) if with_adjustments else ()
    holds = ([Text("the dealer is SUSPENDED: not payable until reactivated")]
             if dealer is not None and dealer.get("status") == DealerStatus.SUSPENDED.value
             else [])
    figures = accrue(program.rules, terms, period, basis=basis.period,
                     cumulative_basis=basis.cumulative, earlier_gross=before.gross,
                     cap_used=before.net, scorecard=inputs.scorecards.get(code),
                     deductions=penalties.deductions, forfeitures=penalties.forfeitures,
                     adjustments=adjustments,
                     segment_name=inputs.segment_names.get(terms.segment_code or ""),
                     target=inputs.target_of(code),
                     transactions=(inputs.transactions or {}).get(code, ()),
                     carried_in=before.carried if with_adjustments else None,
                     holds=holds, minimum_payout=with_adjustments)
    if kept_gross is None:
        return figures
    net = net_from_gross(kept_gross, period_name=period.name, currency=program.rules.currency,
                         scorecard_template_code=program.rules.scorecard_template_code,
                         scorecard=inputs.scorecards.get(code),
                         deductions=penalties.deductions, cap=terms.cap, cap_used=before.net,
                         forfeitures=penalties.forfeitures, adjustments=adjustments)
    return replace(figures, gross_amount=kept_gross, score_multiplier=net.score_multiplier,
                   deduction_percent=net.deduction_percent,
                   deduction_amount=net.deduction_amount, cap_reduction=net.cap_reduction,
                   adjustment_amount=net.adjustment_amount, net_amount=net.net_amount,
                   status=net.status)


def period_figures(program: StoredProgram, period: Period,
                   dealers: Mapping[str, tuple[dict[str, Any], Terms | None]],
                   basis: Mapping[str, DealerBasis], inputs: Inputs,
                   late: Mapping[str, CalculationStep] | None = None,
                   ) -> dict[str, tuple[Terms, AccrualFigures]]:
    """Every eligible dealer's terms and figures of one open period, from inputs already
    read: no reads, no writes. What compute_open_period writes, and what a simulation
    shows, so both are the same figures by construction."""
    found: dict[str, tuple[Terms, AccrualFigures]] = {}
    for code, (dealer, terms) in dealers.items():
        carried = inputs.earlier.get(code, EarlierPeriods([], ZERO)).carried
        if not eligible(program, dealer, terms, inputs.violations.get(code, []),
                        code in inputs.adjustments or carried is not None):
            continue
        assert terms is not None
        dealer_basis = basis.get(code, DealerBasis())
        figures = figures_for(program, period, terms, dealer_basis, inputs, code,
                              dealer=dealer)
        found[code] = (terms, explained(figures, dealer_basis, program, period,
                                        (late or {}).get(code)))
    return found


def books_after(history: dict[str, EarlierPeriods], period: Period,
           computed: dict[str, AccrualFigures]) -> dict[str, EarlierPeriods]:
    """The books after `period`, as accrual_repo.earlier_periods would read them back: the
    gross of every earlier period, the net used, and only the period just before carries."""
    following = {code: EarlierPeriods(entry.gross, entry.net)
                 for code, entry in history.items()}
    for code, figures in computed.items():
        entry = history.get(code, EarlierPeriods([], ZERO))
        carried = (CarriedIn(period.name, figures.carried_forward)
                   if figures.carried_forward and figures.status is not AccrualStatus.FORFEITED
                   else None)
        following[code] = EarlierPeriods([*entry.gross, EarlierGross(period.name,
                                                                     figures.gross_amount)],
                                         entry.net + figures.net_amount, carried)
    return following


def explained(figures: AccrualFigures, basis: DealerBasis, program: StoredProgram,
              period: Period, late_note: CalculationStep | None = None) -> AccrualFigures:
    """Add what the pure rules cannot know: currencies left out, late data."""
    steps = list(figures.calculation)
    if basis.foreign_count:
        steps.insert(1, foreign_currency_step(basis.foreign_count, basis.foreign_currencies,
                                              program.rules.currency, period.name))
    if late_note is not None:
        steps.insert(2, late_note)
    return replace(figures, calculation=tuple(steps))


def eligible(program: StoredProgram, dealer: dict[str, Any], terms: Terms | None,
             violations: list[Violation], has_adjustments: bool) -> bool:
    """Terms apply, and the dealer is not disqualified — unless this program is the one its
    FORFEIT_YEAR forfeits (the accrual then shows the forfeiture) or money lands on it."""
    if terms is None:
        return False
    if dealer.get("status") != DealerStatus.DISQUALIFIED.value:
        return True
    return has_adjustments or forfeits_year(violations, validity(program))


def span(program: StoredProgram, periods: Sequence[Period]) -> DateRange:
    """From validFrom through the last of `periods`: one monthly pass covers them all."""
    end = min(max(p.end for p in periods), program.rules.valid_to)
    return DateRange(program.rules.valid_from, max(end, program.rules.valid_from))
