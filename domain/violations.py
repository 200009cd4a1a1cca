"""Violations (违规) and the penalties they carry (SPEC §3 steps 2 and 4)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from domain.codes import TEXT_MAX, clean_name
from domain.errors import FieldPath, Problems
from domain.money import HUNDRED, ZERO
from domain.net import Deduction
from domain.periods import DateRange
from domain.text import Text


class ViolationType(StrEnum):
    PRICE_DISRUPTION = "PRICE_DISRUPTION"
    CROSS_REGION_SALES = "CROSS_REGION_SALES"
    COMPETITOR_PRODUCTS = "COMPETITOR_PRODUCTS"
    COUNTERFEIT = "COUNTERFEIT"
    IMPERSONATION = "IMPERSONATION"
    OTHER = "OTHER"


class PenaltyKind(StrEnum):
    DEDUCT_PERCENT = "DEDUCT_PERCENT"
    FORFEIT_PERIOD = "FORFEIT_PERIOD"
    FORFEIT_YEAR = "FORFEIT_YEAR"


@dataclass(frozen=True)
class Violation:
    id: str
    dealer_code: str
    type: ViolationType
    occurred_on: date
    description: str
    kind: PenaltyKind
    percent: Decimal | None = None

    @property
    def reason(self) -> Text:
        """How the dealer's statement names it."""
        return Text("{type} on {day}: {description}", type=self.type.value,
                    day=self.occurred_on, description=self.description)


def validate_violation(*, description: str, occurred_on: date, kind: PenaltyKind,
                       percent: Decimal | None, today: date,
                       path: FieldPath = ("input",), problems: Problems | None = None) -> str:
    """Returns the cleaned description; every problem (with the caller's) at once."""
    problems = problems if problems is not None else Problems()
    text = clean_name(description, (*path, "description"), problems, limit=TEXT_MAX)
    if occurred_on > today:
        problems.add((*path, "occurredOn"), Text("must not be after today ({today})", today=today))
    percent_path = (*path, "penalty", "percent")
    if kind is PenaltyKind.DEDUCT_PERCENT:
        if percent is None:
            problems.add(percent_path, Text("DEDUCT_PERCENT needs a percent"))
        elif not ZERO < percent <= HUNDRED:
            problems.add(percent_path, Text("must be more than 0 and at most 100"))
    elif percent is not None:
        problems.add(percent_path, Text("{kind} takes no percent", kind=kind.value))
    problems.raise_if_any()
    return text


@dataclass(frozen=True)
class Penalties:
    deductions: tuple[Deduction, ...]
    forfeitures: tuple[Text, ...]  # reasons, for the trace


def penalties_for(violations: Sequence[Violation], *, period: DateRange,
                  validity: DateRange) -> Penalties:
    """What a dealer's violations do to one program period.

    DEDUCT_PERCENT and FORFEIT_PERIOD count when dated in the period; FORFEIT_YEAR when
    dated anywhere in the program's validity (it forfeits the whole program).
    """
    deductions: list[Deduction] = []
    forfeitures: list[Text] = []
    for violation in sorted(violations, key=lambda v: (v.occurred_on, v.id)):
        in_period = period.contains(violation.occurred_on)
        if violation.kind is PenaltyKind.DEDUCT_PERCENT and in_period:
            assert violation.percent is not None
            deductions.append(Deduction(violation.reason, violation.percent))
        elif violation.kind is PenaltyKind.FORFEIT_PERIOD and in_period:
            forfeitures.append(Text("{kind}: {reason}", kind=violation.kind.value,
                                    reason=violation.reason))
        elif violation.kind is PenaltyKind.FORFEIT_YEAR and validity.contains(
                violation.occurred_on):
            forfeitures.append(Text("{kind}: {reason}", kind=violation.kind.value,
                                    reason=violation.reason))
    return Penalties(tuple(deductions), tuple(forfeitures))


def forfeits_year(violations: Sequence[Violation], validity: DateRange) -> bool:
    return any(v.kind is PenaltyKind.FORFEIT_YEAR and validity.contains(v.occurred_on)
               for v in violations)
