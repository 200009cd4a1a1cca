"""Segments (客户分类): dealer classes that can carry their own programme terms.

A dealer belongs to a segment when it is on the segment's explicit list, or when the
segment has a rule and every condition the rule gives holds. A rule with no conditions
matches every dealer; a segment with neither rule nor list is empty.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.codes import TEXT_MAX, clean_code, clean_name, clean_optional_label
from domain.dealers import Dealer, tenure_years
from domain.errors import FieldPath, Problems
from domain.money import ZERO
from domain.text import Text

PRIORITY_MAX = 1_000_000
TENURE_MAX = 100
DEALER_LIST_MAX = 10_000


@dataclass(frozen=True)
class SegmentRule:
    regions: tuple[str, ...] | None = None
    channels: tuple[str, ...] | None = None
    min_trailing_sales: Decimal | None = None
    min_tenure_years: int | None = None

    @property
    def needs_trailing_sales(self) -> bool:
        return self.min_trailing_sales is not None


@dataclass(frozen=True)
class Segment:
    code: str
    name: str
    priority: int
    description: str | None = None
    rule: SegmentRule | None = None
    dealer_codes: tuple[str, ...] = ()
    # the most of an order (percent) its rebate credit may pay (SPEC §4a); None: no limit
    max_order_offset_percent: Decimal | None = None


def rule_matches(rule: SegmentRule, dealer: Dealer, *, as_of: date,
                 trailing_sales: Decimal = ZERO) -> bool:
    """All given conditions must hold; `trailing_sales` = net sales of the 12 months before."""
    if rule.regions is not None and dealer.region not in rule.regions:
        return False
    if rule.channels is not None and dealer.channel not in rule.channels:
        return False
    if rule.min_tenure_years is not None and (
            dealer.joined_on is None
            or tenure_years(dealer.joined_on, as_of) < rule.min_tenure_years):
        return False
    return rule.min_trailing_sales is None or trailing_sales >= rule.min_trailing_sales


def is_member(segment: Segment, dealer: Dealer, *, as_of: date,
              trailing_sales: Decimal = ZERO) -> bool:
    if dealer.code in segment.dealer_codes:
        return True
    return segment.rule is not None and rule_matches(
        segment.rule, dealer, as_of=as_of, trailing_sales=trailing_sales)


def memberships(segments: Iterable[Segment], dealer: Dealer, *, as_of: date,
                trailing_sales: Decimal = ZERO) -> tuple[str, ...]:
    """Codes of the segments a dealer belongs to, highest priority (smallest number) first."""
    ordered = sorted(segments, key=lambda s: (s.priority, s.code))
    return tuple(s.code for s in ordered
                 if is_member(s, dealer, as_of=as_of, trailing_sales=trailing_sales))


def members(segment: Segment, dealers: Iterable[Dealer], *, as_of: date,
            trailing_sales: Mapping[str, Decimal]) -> set[str]:
    return {d.code for d in dealers
            if is_member(segment, d, as_of=as_of,
                         trailing_sales=trailing_sales.get(d.code, ZERO))}


def _clean_labels(values: list[str] | None, path: FieldPath,
                  problems: Problems) -> tuple[str, ...] | None:
    if values is None:
        return None
    cleaned: list[str] = []
    for index, value in enumerate(values):
        label = clean_optional_label(value, (*path, str(index)), problems)
        if label is None:
            problems.add((*path, str(index)), Text("must not be empty"))
        elif label not in cleaned:
            cleaned.append(label)
    return tuple(cleaned)


def validate_segment(*, code: str, name: str, description: str | None, priority: int,
                     rule: SegmentRule | None, dealer_codes: list[str] | None,
                     known_dealer_codes: set[str], priorities_taken: Mapping[int, str],
                     path: FieldPath = ("input",),
                     max_order_offset_percent: Decimal | None = None) -> Segment:
    """Check a segment input against itself and the store, reporting all problems at once.

    `priorities_taken` maps priority → code of the *other* segments, so that the order of
    preference between segments is never ambiguous.
    """
    problems = Problems()
    code = clean_code(code, (*path, "code"), problems)
    name = clean_name(name, (*path, "name"), problems)
    if description is not None:
        description = clean_name(description, (*path, "description"), problems,
                                 limit=TEXT_MAX) if description.strip() else None
    if not 0 <= priority <= PRIORITY_MAX:
        problems.add((*path, "priority"), Text("must be between 0 and {limit}", limit=PRIORITY_MAX))
    elif priority in priorities_taken and priorities_taken[priority] != code:
        problems.add((*path, "priority"),
                     Text("priority {priority} is already used by segment {segment}",
                          priority=priority, segment=priorities_taken[priority]), "CONFLICT")
    if max_order_offset_percent is not None and not (
            max_order_offset_percent.is_finite()
            and ZERO < max_order_offset_percent <= Decimal(100)):
        problems.add((*path, "maxOrderOffsetPercent"),
                     Text("must be more than 0 and at most 100"))
    clean_rule = None
    if rule is not None:
        rpath = (*path, "rule")
        if rule.min_trailing_sales is not None and rule.min_trailing_sales < 0:
            problems.add((*rpath, "minTrailingSales"), Text("must not be negative"))
        if rule.min_tenure_years is not None and not 0 <= rule.min_tenure_years <= TENURE_MAX:
            problems.add((*rpath, "minTenureYears"),
                         Text("must be between 0 and {limit}", limit=TENURE_MAX))
        clean_rule = SegmentRule(
            regions=_clean_labels(list(rule.regions) if rule.regions is not None else None,
                                  (*rpath, "regions"), problems),
            channels=_clean_labels(list(rule.channels) if rule.channels is not None else None,
                                   (*rpath, "channels"), problems),
            min_trailing_sales=rule.min_trailing_sales,
            min_tenure_years=rule.min_tenure_years)
    codes: list[str] = []
    if dealer_codes is not None:
        if len(dealer_codes) > DEALER_LIST_MAX:
            problems.add((*path, "dealerCodes"),
                         Text("at most {limit} dealers", limit=DEALER_LIST_MAX))
        for index, raw in enumerate(dealer_codes[:DEALER_LIST_MAX]):
            item_path = (*path, "dealerCodes", str(index))
            dealer_code = clean_code(raw, item_path, Problems())
            if dealer_code not in known_dealer_codes:
                problems.add(item_path, Text("no dealer with code {code}", code=repr(dealer_code)),
                             "NOT_FOUND")
            elif dealer_code not in codes:
                codes.append(dealer_code)
    problems.raise_if_any()
    return Segment(code=code, name=name, priority=priority, description=description,
                   rule=clean_rule, dealer_codes=tuple(codes),
                   max_order_offset_percent=max_order_offset_percent)
