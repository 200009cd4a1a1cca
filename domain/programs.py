"""Rebate programs (返利政策): their rules, their validation, and which terms a dealer gets."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from domain.achievement import MAX_ACHIEVEMENT_PERCENT
from domain.codes import clean_code, clean_name
from domain.errors import FieldPath, Problems
from domain.money import HUNDRED
from domain.periods import Period, PeriodKind, periods_between
from domain.text import Text
from domain.tiers import (
    RateKind,
    RebateBasis,
    Tier,
    TierEvaluation,
    TierMeasure,
    TierMode,
    validate_tiers,
)

_CURRENCY = re.compile(r"[A-Z]{3}")
MAX_CREDIT_VALIDITY_DAYS = 3650  # ten years: longer is a typo, not a policy


class Accumulation(StrEnum):
    PER_PERIOD = "PER_PERIOD"
    YEAR_TO_DATE = "YEAR_TO_DATE"


class PayoutForm(StrEnum):
    CASH = "CASH"
    CREDIT_NOTE = "CREDIT_NOTE"
    GOODS = "GOODS"


@dataclass(frozen=True)
class Terms:
    segment_code: str | None  # None: the default terms
    tiers: tuple[Tier, ...]
    cap: Decimal | None = None


@dataclass(frozen=True)
class ProgramRules:
    code: str
    name: str
    basis: RebateBasis
    rate_kind: RateKind
    tier_mode: TierMode
    period_kind: PeriodKind
    accumulation: Accumulation
    valid_from: date
    valid_to: date
    currency: str
    terms: tuple[Terms, ...]
    payout_form: PayoutForm
    product_codes: tuple[str, ...] = ()  # empty: every product counts
    tax_rate: Decimal = Decimal("0")
    scorecard_template_code: str | None = None
    version: int = 1
    tier_measure: TierMeasure = TierMeasure.BASIS
    tier_evaluation: TierEvaluation = TierEvaluation.PERIOD_TOTAL
    minimum_payout: Decimal | None = None  # money: a smaller positive net is carried forward
    credit_validity_days: int | None = None  # CREDIT_NOTE: credits expire; None: never

    @property
    def terms_have_cap(self) -> bool:
        return any(t.cap is not None for t in self.terms)

    @property
    def on_target(self) -> bool:
        return self.tier_measure is TierMeasure.TARGET_ACHIEVEMENT

    @property
    def each_transaction(self) -> bool:
        return self.tier_evaluation is TierEvaluation.EACH_TRANSACTION

    def periods(self) -> list[Period]:
        return periods_between(self.period_kind, self.valid_from, self.valid_to)

    def next_period(self, period: Period) -> Period | None:
        """The program's period after `period`: where a carried amount lands (None: last)."""
        return next((p for p in self.periods() if p.start > period.start), None)

    def window_periods(self, period: Period) -> list[Period]:
        """The periods whose targets make the window's target: the period itself, or under
        YEAR_TO_DATE the program's periods 1..n."""
        if self.accumulation is Accumulation.YEAR_TO_DATE:
            return [p for p in self.periods() if p.start <= period.start]
        return [period]


def started_periods(rules: ProgramRules, today: date) -> list[Period]:
    """The program's periods that have begun: later ones cannot have sales yet."""
    return [p for p in rules.periods() if p.start <= today]


def _add_year(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return date(day.year + 1, 3, 1)


def _validate_dates(spec: ProgramRules, path: FieldPath, problems: Problems) -> None:
    if spec.valid_to < spec.valid_from:
        problems.add((*path, "validTo"), Text("validTo must not be before validFrom"))
    elif (
        spec.accumulation is Accumulation.YEAR_TO_DATE
        and spec.valid_from.year < 9999
        and spec.valid_to >= _add_year(spec.valid_from)
    ):
        # A_n accumulates from validFrom: over more than a year the tiers would compare
        # multi-year volume with annual thresholds.
        problems.add((*path, "validTo"), Text("a YEAR_TO_DATE program may run at most one year"))


def _validate_measure(spec: ProgramRules, path: FieldPath, problems: Problems) -> None:
    """Which tier measure, mode, evaluation and rate kind go together (SPEC §3)."""
    if spec.tier_mode is TierMode.ON_EXCESS_OVER_TARGET:
        if not spec.on_target:
            problems.add((*path, "tierMode"), Text(
                "ON_EXCESS_OVER_TARGET needs tierMeasure TARGET_ACHIEVEMENT"))
        if spec.rate_kind is RateKind.FIXED:
            problems.add((*path, "rateKind"), Text(
                "ON_EXCESS_OVER_TARGET needs a PERCENT or PER_UNIT rate, not FIXED"))
    if spec.each_transaction:
        if spec.accumulation is not Accumulation.PER_PERIOD:
            problems.add((*path, "tierEvaluation"), Text(
                "EACH_TRANSACTION needs accumulation PER_PERIOD"))
        if spec.on_target:
            problems.add((*path, "tierEvaluation"), Text(
                "EACH_TRANSACTION needs tierMeasure BASIS"))
    minimum = spec.minimum_payout
    if minimum is not None:
        exponent = minimum.as_tuple().exponent
        if not minimum.is_finite() or minimum <= 0:
            problems.add((*path, "minimumPayout"), Text("minimumPayout must be more than 0"))
        elif isinstance(exponent, int) and exponent < -2:
            problems.add((*path, "minimumPayout"),
                         Text("minimumPayout is money: at most 2 decimal places"))


def _validate_credit_validity(spec: ProgramRules, path: FieldPath,
                              problems: Problems) -> None:
    """Only a CREDIT_NOTE credits the rebate account (SPEC §4a), so only it has credits that
    expire: on CASH or GOODS the value would be silently meaningless, so it is refused."""
    days = spec.credit_validity_days
    if days is None:
        return
    if spec.payout_form is not PayoutForm.CREDIT_NOTE:
        problems.add((*path, "creditValidityDays"),
                     Text("creditValidityDays applies only to payoutForm CREDIT_NOTE"))
    elif not 0 < days <= MAX_CREDIT_VALIDITY_DAYS:
        problems.add((*path, "creditValidityDays"),
                     Text("creditValidityDays must be between 1 and {most}",
                          most=MAX_CREDIT_VALIDITY_DAYS))


def _validate_achievement_tiers(spec: ProgramRules, path: FieldPath,
                                problems: Problems) -> None:
    """TARGET_ACHIEVEMENT thresholds are percentages of the target (ascending and ≥ 0 as
    every threshold is, checked with the tiers)."""
    if not spec.on_target:
        return
    for index, terms in enumerate(spec.terms):
        for position, tier in enumerate(terms.tiers):
            if tier.threshold.is_finite() and tier.threshold > MAX_ACHIEVEMENT_PERCENT:
                problems.add(
                    (*path, "terms", str(index), "tiers", str(position), "threshold"),
                    Text("a TARGET_ACHIEVEMENT threshold is a percentage of the target: "
                         "at most {limit}",
                         limit=format(MAX_ACHIEVEMENT_PERCENT, "f")))


def _validate_terms(
    spec: ProgramRules, known_segments: Collection[str], path: FieldPath, problems: Problems
) -> None:
    if not spec.terms:
        problems.add((*path, "terms"), Text("at least one terms entry is required"))
    seen: set[str | None] = set()
    for index, terms in enumerate(spec.terms):
        here = (*path, "terms", str(index))
        segment = terms.segment_code
        if segment in seen:
            message = (
                Text("only one default terms entry (no segment) is allowed")
                if segment is None
                else Text("segment {segment} already has terms", segment=repr(segment))
            )
            problems.add((*here, "segmentCode"), message)
        elif segment is not None and segment not in known_segments:
            problems.add((*here, "segmentCode"),
                         Text("segment {segment} does not exist", segment=repr(segment)),
                         "NOT_FOUND")
        seen.add(segment)
        validate_tiers(terms.tiers, (*here, "tiers"), problems, spec.rate_kind)
        if terms.cap is not None and (not terms.cap.is_finite() or terms.cap < 0):
            problems.add((*here, "cap"), Text("cap must be 0 or more"))


def validate_program(
    spec: ProgramRules,
    known_segment_codes: Collection[str],
    known_template_codes: Collection[str],
    path: FieldPath = ("input",),
    problems: Problems | None = None,
) -> None:
    """Check every rule of a program and raise ValidationFailed once with all problems.

    Pass `problems` to raise together with problems the caller found itself.
    """
    problems = problems if problems is not None else Problems()
    # Same code and name rules as every other entity; the caller stores the cleaned text.
    clean_code(spec.code, (*path, "code"), problems)
    clean_name(spec.name, (*path, "name"), problems)
    if spec.rate_kind is RateKind.PER_UNIT and spec.basis is not RebateBasis.QUANTITY:
        problems.add((*path, "rateKind"), Text("a PER_UNIT rate needs basis QUANTITY"))
    _validate_dates(spec, path, problems)
    if _CURRENCY.fullmatch(spec.currency) is None:
        problems.add((*path, "currency"),
                     Text("currency must be a 3-letter uppercase code (ISO 4217)"))
    if not spec.tax_rate.is_finite() or not 0 <= spec.tax_rate <= HUNDRED:
        problems.add((*path, "taxRate"), Text("taxRate must be between 0 and 100"))
    seen_products: set[str] = set()
    for index, product in enumerate(spec.product_codes):
        if not product.strip():
            problems.add((*path, "productCodes", str(index)),
                         Text("product code must not be blank"))
        elif product in seen_products:
            problems.add((*path, "productCodes", str(index)), Text("{product} is listed twice",
                                                                     product=repr(product)))
        else:  # the same rules as a transaction's productCode, which it must match
            clean_code(product, (*path, "productCodes", str(index)), problems)
        seen_products.add(product)
    template = spec.scorecard_template_code
    if template is not None and template not in known_template_codes:
        problems.add(
            (*path, "scorecardTemplateCode"),
            Text("scorecard template {template} does not exist", template=repr(template)),
            "NOT_FOUND",
        )
    _validate_terms(spec, known_segment_codes, path, problems)
    _validate_measure(spec, path, problems)
    _validate_achievement_tiers(spec, path, problems)
    _validate_credit_validity(spec, path, problems)
    problems.raise_if_any()


def choose_terms(
    terms: Sequence[Terms], dealer_segments: Sequence[tuple[str, int]]
) -> Terms | None:
    """The terms of the dealer's highest-priority segment that has terms, else the default.

    Smaller priority numbers win; equal priorities fall back to the segment code so the
    choice never depends on the order memberships were stored in. None: not eligible.
    """
    by_segment = {entry.segment_code: entry for entry in terms}
    for code, _priority in sorted(dealer_segments, key=lambda pair: (pair[1], pair[0])):
        if code in by_segment:
            return by_segment[code]
    return by_segment.get(None)


class ProgramStatus(StrEnum):
    DRAFT = "DRAFT"
    ACTIVE = "ACTIVE"
    RETIRED = "RETIRED"


# What an accrual already computed means: these never change once a program is ACTIVE.
FIXED_WHEN_ACTIVE = (("basis", "basis"), ("period_kind", "periodKind"),
                     ("accumulation", "accumulation"), ("currency", "currency"),
                     ("valid_from", "validFrom"))


def check_edit(current: ProgramRules, status: ProgramStatus, edited: ProgramRules,
               path: FieldPath = ("input",)) -> int:
    """The version an edit produces: a DRAFT is edited in place, an ACTIVE program gets a
    new version (accruals keep the one they used), a RETIRED one is not edited at all."""
    problems = Problems()
    if status is ProgramStatus.RETIRED:
        problems.add((*path, "code"), Text("a RETIRED program cannot be edited"), "LOCKED")
    elif status is ProgramStatus.ACTIVE:
        for attribute, field in FIXED_WHEN_ACTIVE:
            if getattr(current, attribute) != getattr(edited, attribute):
                problems.add((*path, field), Text("{field} of an ACTIVE program cannot change "
                                                  "(create a new program instead)", field=field),
                             "LOCKED")
    problems.raise_if_any()
    return current.version + 1 if status is ProgramStatus.ACTIVE else current.version
