"""From gross to net (SPEC §3): scorecard, deductions, cap, forfeiture, adjustments, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from domain.calculation import (
    NOTHING,
    CalculationStep,
    money_figure,
    on_hold_step,
    show_plus,
    show_rounding,
)
from domain.money import EXACT, HUNDRED, ZERO, format_amount, format_percent, trim
from domain.text import Listing, Money, Text

ONE = Decimal("1")


class AccrualStatus(StrEnum):
    OPEN = "OPEN"
    ON_HOLD = "ON_HOLD"
    APPROVED = "APPROVED"
    DISPUTED = "DISPUTED"
    SETTLED = "SETTLED"
    FORFEITED = "FORFEITED"


@dataclass(frozen=True)
class ScorecardResult:
    score: Decimal
    multiplier: Decimal


@dataclass(frozen=True)
class Deduction:
    """A DEDUCT_PERCENT violation dated in the period; `reason` names it for the dealer."""

    reason: Text | str
    percent: Decimal


@dataclass(frozen=True)
class Adjustment:
    amount: Decimal
    cause: Text | str


@dataclass(frozen=True)
class NetFigures:
    score_multiplier: Decimal
    deduction_percent: Decimal
    deduction_amount: Decimal
    cap_reduction: Decimal
    adjustment_amount: Decimal
    net_amount: Decimal
    status: AccrualStatus  # OPEN, ON_HOLD or FORFEITED: the rest is workflow, not arithmetic
    calculation: tuple[CalculationStep, ...]
    carried_forward: Decimal = NOTHING  # step 6: paid 0 now, lands on the next period


@dataclass(frozen=True)
class MinimumPayout:
    """Step 6: a positive net below `amount` is carried to `next_period` (None: the
    program's last period, which pays whatever it holds)."""

    amount: Decimal
    next_period: str | None


def _minimum_payout_step(net: Decimal, minimum: MinimumPayout, period_name: str,
                         currency: str) -> tuple[Decimal, CalculationStep | None]:
    """The amount carried forward (0: paid now) and the step that says so."""
    limit = Money(minimum.amount, currency)
    if net <= 0:
        return NOTHING, None
    if net >= minimum.amount:
        return NOTHING, CalculationStep(Text("Minimum payout"), Text(
            "{net} reaches the minimum payout {minimum}: paid", net=Money(net, currency),
            minimum=limit), None)
    if minimum.next_period is None:
        return NOTHING, CalculationStep(Text("Minimum payout"), Text(
            "{net} is below the minimum payout {minimum}; {period} is the last period: "
            "paid in full", net=Money(net, currency), minimum=limit,
            period=period_name), None)
    return net, CalculationStep(Text("Minimum payout"), Text(
        "below the minimum payout {minimum}: {net} carried forward to {period}",
        minimum=limit, net=Money(net, currency), period=minimum.next_period), -net)


def _scorecard_step(
    gross: Decimal, template: str | None, scorecard: ScorecardResult | None, period: str,
    currency: str,
) -> tuple[Decimal, Decimal, CalculationStep]:
    if template is None:
        return ONE, gross, CalculationStep(Text("Scorecard"),
                                           Text("not part of this program: × 1"), gross)
    if scorecard is None:
        formula = Text(
            "no {template} scorecard recorded for {period}: counted at × 1 for now; "
            "on hold, not payable until the scorecard is recorded",
            template=template, period=period)
        return ONE, gross, CalculationStep(Text("Scorecard missing"), formula, gross)
    with localcontext(EXACT):
        exact = gross * scorecard.multiplier
    scaled = money_figure(exact)
    formula = Text(
        "score {score} gives multiplier {multiplier}: {gross} × {multiplier} {rounding}",
        score=format_amount(scorecard.score), multiplier=format_amount(scorecard.multiplier, 0),
        gross=Money(gross, currency), rounding=show_rounding(exact, scaled, currency))
    return scorecard.multiplier, scaled, CalculationStep(Text("Scorecard"), formula, scaled)


def _deduction_steps(
    scaled: Decimal, deductions: Sequence[Deduction], currency: str
) -> tuple[Decimal, Decimal, list[CalculationStep]]:
    """Deductions add up, capped at 100 %, and apply only to a positive amount.

    A penalty must never shrink a clawback (negative YEAR_TO_DATE gross): that would reward
    the dealer for the violation.
    """
    if not deductions:
        return ZERO, NOTHING, []
    steps = [
        CalculationStep(Text("Deduction: {reason}", reason=item.reason),
                        Text("{percent}", percent=format_percent(item.percent)), None)
        for item in deductions
    ]
    listed = sum((item.percent for item in deductions), ZERO)
    percent = min(max(listed, ZERO), HUNDRED)
    shown = Listing(tuple(format_percent(item.percent) for item in deductions), " + ")
    total = (Text("{listed} = {total}, capped at 100%", listed=shown,
                  total=format_percent(listed)) if listed > HUNDRED
             else Text("{listed} = {total}", listed=shown, total=format_percent(listed)))
    if scaled <= 0:
        formula = Text("{total}; not applied to {amount}: a penalty never reduces a clawback",
                       total=total, amount=Money(scaled, currency))
        steps.append(CalculationStep(Text("Deductions"), formula, NOTHING))
        return percent, NOTHING, steps
    with localcontext(EXACT):
        exact = scaled * percent / HUNDRED
    amount = money_figure(exact)
    formula = Text("{total}; {percent} of {amount} {rounding}", total=total,
                   percent=format_percent(percent), amount=Money(scaled, currency),
                   rounding=show_rounding(exact, amount, currency))
    steps.append(CalculationStep(Text("Deductions"), formula, amount))
    after = scaled - amount
    steps.append(
        CalculationStep(
            Text("After deductions"),
            Text("{amount} − {deduction} = {after}", amount=Money(scaled, currency),
                 deduction=Money(amount, currency), after=Money(after, currency)),
            after,
        )
    )
    return percent, amount, steps


def _cap_step(
    amount: Decimal, cap: Decimal | None, cap_used: Decimal, currency: str
) -> tuple[Decimal, list[CalculationStep]]:
    """The dealer's net for the program may not exceed the cap: cut this period to what is left."""
    if cap is None:
        return amount, []
    left = max(cap - cap_used, ZERO)
    capped = min(amount, left)
    verdict = (
        Text("{amount} cut to {capped}", amount=Money(amount, currency),
             capped=Money(capped, currency))
        if capped < amount
        else Text("{amount} fits", amount=Money(amount, currency))
    )
    formula = Text(
        "cap {cap} − {used} already accrued in other periods = {left} left; {verdict}",
        cap=Money(cap, currency), used=Money(cap_used, currency), left=Money(left, currency),
        verdict=verdict)
    return capped, [CalculationStep(Text("Cap"), formula, capped)]


def _forfeiture_steps(
    amount: Decimal, forfeitures: Sequence[Text | str], currency: str
) -> tuple[Decimal, list[CalculationStep]]:
    """A forfeited period earns nothing; like a deduction, it never cancels a clawback."""
    if not forfeitures:
        return amount, []
    kept = min(amount, NOTHING)
    result = (
        Text("{amount} → {zero}", amount=Money(amount, currency), zero=Money(NOTHING, currency))
        if amount >= 0
        else Text("{amount} kept: a forfeiture never cancels a clawback",
                  amount=Money(amount, currency))
    )
    return kept, [CalculationStep(Text("Forfeited: {reason}", reason=reason), result, kept)
                  for reason in forfeitures]


def _adjustment_steps(
    adjustments: Sequence[Adjustment], currency: str
) -> tuple[Decimal, list[CalculationStep]]:
    steps = [
        CalculationStep(
            Text("Adjustment: {cause}", cause=item.cause),
            Text("+{amount}", amount=Money(item.amount, currency)) if item.amount >= 0
            else Text("−{amount}", amount=Money(-item.amount, currency)),
            trim(item.amount),
        )
        for item in adjustments
    ]
    return money_figure(sum((item.amount for item in adjustments), ZERO)), steps


def net_from_gross(
    gross: Decimal,
    *,
    period_name: str,
    currency: str,
    scorecard_template_code: str | None = None,
    scorecard: ScorecardResult | None = None,
    deductions: Sequence[Deduction] = (),
    cap: Decimal | None = None,
    cap_used: Decimal = ZERO,
    forfeitures: Sequence[Text | str] = (),
    adjustments: Sequence[Adjustment] = (),
    holds: Sequence[Text] = (),
    minimum_payout: MinimumPayout | None = None,
) -> NetFigures:
    """SPEC §3 "From gross to net", steps 1–5 in order.

    Each figure the dealer sees (after scorecard, deduction, net) is rounded once and the
    figures add up to the cent, so every line of the trace can be checked by hand. A missing
    scorecard leaves the multiplier at 1 and puts the accrual ON_HOLD: the net is shown but
    not payable. `forfeitures` are the reasons (FORFEIT_PERIOD/FORFEIT_YEAR) the period's
    net is forfeited; adjustments still apply after a forfeiture (that is how settled money
    is reclaimed). `holds` are other reasons the net is not payable yet (no target, a
    suspended dealer). Step 6, the minimum payout, applies only to a payable (OPEN) net: a
    held amount is not carried anywhere until it is released.
    """
    multiplier, scaled, score_step = _scorecard_step(
        gross, scorecard_template_code, scorecard, period_name, currency
    )
    on_hold = scorecard_template_code is not None and scorecard is None
    steps = [score_step]
    percent, deduction, deduction_steps = _deduction_steps(scaled, deductions, currency)
    steps += deduction_steps
    capped, cap_steps = _cap_step(scaled - deduction, cap, cap_used, currency)
    steps += cap_steps
    kept, forfeit_steps = _forfeiture_steps(capped, forfeitures, currency)
    steps += forfeit_steps
    adjustment_amount, adjustment_steps = _adjustment_steps(adjustments, currency)
    steps += adjustment_steps
    net = kept + adjustment_amount
    if forfeitures:
        status = AccrualStatus.FORFEITED
    elif on_hold or holds:
        status = AccrualStatus.ON_HOLD
    else:
        status = AccrualStatus.OPEN
    carried = NOTHING
    if minimum_payout is not None and status is AccrualStatus.OPEN:
        carried, minimum_step = _minimum_payout_step(net, minimum_payout, period_name,
                                                     currency)
        if minimum_step is not None:
            steps.append(minimum_step)
    label = (Text("Net (on hold until the scorecard is recorded)")
             if on_hold and status is AccrualStatus.ON_HOLD else Text("Net"))
    if carried:
        formula = Text("{net} − {carried} carried forward = {paid}", net=Money(net, currency),
                       carried=Money(carried, currency), paid=Money(NOTHING, currency))
    elif adjustments:
        formula = Text("{sum} = {net}", sum=show_plus(kept, adjustment_amount, currency),
                       net=Money(net, currency))
    else:
        formula = Text("{amount}", amount=Money(net, currency))
    net -= carried
    steps.append(CalculationStep(label, formula, net))
    steps += [on_hold_step(reason) for reason in holds]
    return NetFigures(
        score_multiplier=multiplier,
        deduction_percent=percent,
        deduction_amount=deduction,
        cap_reduction=scaled - deduction - capped,
        adjustment_amount=adjustment_amount,
        net_amount=net,
        status=status,
        calculation=tuple(steps),
        carried_forward=carried,
    )
