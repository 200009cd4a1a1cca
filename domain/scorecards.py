"""Scorecards (返利考核): weighted KPIs scored against targets; the score picks a multiplier.

A template is policy: its KPIs' weights sum to exactly 100 and its bands map a total score
to the multiplier that scales the rebate (SPEC §3 "Scorecard score", "From gross to net" 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from domain.codes import clean_code, clean_name, normalise_text
from domain.errors import FieldPath, Problems
from domain.money import EXACT, HUNDRED, ZERO, round_money
from domain.net import ScorecardResult
from domain.text import Text

KPI_MAX = 50
BAND_MAX = 50
ONE = Decimal("1")


class KpiDirection(StrEnum):
    HIGHER_IS_BETTER = "HIGHER_IS_BETTER"
    LOWER_IS_BETTER = "LOWER_IS_BETTER"


@dataclass(frozen=True)
class Kpi:
    code: str
    name: str
    weight: Decimal
    target: Decimal
    direction: KpiDirection


@dataclass(frozen=True)
class ScoreBand:
    min_score: Decimal
    multiplier: Decimal


@dataclass(frozen=True)
class ScorecardTemplate:
    code: str
    name: str
    kpis: tuple[Kpi, ...]
    bands: tuple[ScoreBand, ...]  # ascending minScore

    def kpi(self, code: str) -> Kpi | None:
        return next((k for k in self.kpis if k.code == code), None)


@dataclass(frozen=True)
class KpiScore:
    kpi: Kpi
    actual: Decimal
    score: Decimal  # 0–100, rounded to 2 places for display


@dataclass(frozen=True)
class ScoreSheet:
    """A scored set of actuals: every KPI's line and the result the accrual engine uses."""

    kpi_scores: tuple[KpiScore, ...]
    result: ScorecardResult

    @property
    def score(self) -> Decimal:
        return self.result.score

    @property
    def multiplier(self) -> Decimal:
        return self.result.multiplier


@dataclass(frozen=True)
class Scorecard:
    """One dealer's actuals for one period under one template, scored."""

    dealer_code: str
    template_code: str
    period: str
    sheet: ScoreSheet

    @property
    def key(self) -> str:
        """Business key (audit entityId, global ID); codes and period names never hold ':'."""
        return f"{self.dealer_code}:{self.template_code}:{self.period}"


def _finite(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _validate_kpis(kpis: Sequence[Kpi], path: FieldPath, problems: Problems) -> tuple[Kpi, ...]:
    here = (*path, "kpis")
    if not kpis:
        problems.add(here, Text("at least one KPI is required"))
        return ()
    if len(kpis) > KPI_MAX:
        problems.add(here, Text("at most {limit} KPIs", limit=KPI_MAX))
    cleaned: list[Kpi] = []
    first_index: dict[str, int] = {}
    for index, kpi in enumerate(kpis):
        at = (*here, str(index))
        code = clean_code(kpi.code, (*at, "code"), problems)
        if code in first_index:
            problems.add((*at, "code"), Text("KPI {code} is already KPI {index}",
                                             code=repr(code), index=first_index[code]))
        elif code:
            first_index[code] = index
        name = clean_name(kpi.name, (*at, "name"), problems)
        if not _finite(kpi.weight) or kpi.weight <= 0:
            problems.add((*at, "weight"), Text("weight must be more than 0"))
        if not _finite(kpi.target) or kpi.target <= 0:
            problems.add((*at, "target"), Text("target must be more than 0"))
        cleaned.append(Kpi(code, name, kpi.weight, kpi.target, kpi.direction))
    weights = [k.weight for k in kpis if _finite(k.weight)]
    total = sum(weights, ZERO)
    if len(weights) == len(kpis) and total != HUNDRED:
        problems.add(here, Text("weights must sum to exactly 100; they sum to {total}",
                                total=total))
    return tuple(cleaned)


def _validate_bands(bands: Sequence[ScoreBand], path: FieldPath,
                    problems: Problems) -> tuple[ScoreBand, ...]:
    here = (*path, "bands")
    if not bands:
        problems.add(here, Text("at least one band is required"))
        return ()
    if len(bands) > BAND_MAX:
        problems.add(here, Text("at most {limit} bands", limit=BAND_MAX))
    first_index: dict[Decimal, int] = {}
    for index, band in enumerate(bands):
        at = (*here, str(index))
        if not _finite(band.min_score) or not ZERO <= band.min_score <= HUNDRED:
            problems.add((*at, "minScore"), Text("minScore must be between 0 and 100"))
        elif band.min_score in first_index:
            problems.add((*at, "minScore"),
                         Text("minScore {score} is already band {index}", score=band.min_score,
                              index=first_index[band.min_score]))
        else:
            first_index[band.min_score] = index
        if not _finite(band.multiplier) or band.multiplier < 0:
            problems.add((*at, "multiplier"), Text("multiplier must be 0 or more"))
    return tuple(sorted(bands, key=lambda b: b.min_score if _finite(b.min_score) else ZERO))


def validate_template(*, code: str, name: str, kpis: Sequence[Kpi], bands: Sequence[ScoreBand],
                      path: FieldPath = ("input",)) -> ScorecardTemplate:
    """Check a template input, reporting all problems at once; bands come back ascending."""
    problems = Problems()
    template = ScorecardTemplate(
        code=clean_code(code, (*path, "code"), problems),
        name=clean_name(name, (*path, "name"), problems),
        kpis=_validate_kpis(kpis, path, problems),
        bands=_validate_bands(bands, path, problems),
    )
    problems.raise_if_any()
    return template


def validate_actuals(template: ScorecardTemplate, values: Sequence[tuple[str, Decimal]],
                     path: FieldPath = ("input", "values")) -> dict[str, Decimal]:
    """Every KPI of the template exactly once, each actual ≥ 0; all problems at once.

    Unknown and repeated codes are reported at their index; a KPI with no value at all has
    no index, so it is reported on the list itself, naming the KPI.
    """
    problems = Problems()
    actuals: dict[str, Decimal] = {}
    first_index: dict[str, int] = {}
    for index, (raw_code, actual) in enumerate(values):
        at = (*path, str(index))
        code = normalise_text(raw_code)
        if template.kpi(code) is None:
            problems.add((*at, "kpiCode"),
                         Text("template {template} has no KPI {code}",
                              template=repr(template.code), code=repr(code)), "NOT_FOUND")
        elif code in first_index:
            problems.add((*at, "kpiCode"),
                         Text("KPI {code} is already given at index {index}", code=repr(code),
                              index=first_index[code]))
        else:
            first_index[code] = index
        if not _finite(actual) or actual < 0:
            problems.add((*at, "actual"), Text("actual must be 0 or more"))
        elif code not in actuals:
            actuals[code] = actual
    for kpi in template.kpis:
        if kpi.code not in first_index:
            problems.add(path, Text("no actual given for KPI {code}", code=repr(kpi.code)))
    problems.raise_if_any()
    return {kpi.code: actuals[kpi.code] for kpi in template.kpis}


def kpi_score(kpi: Kpi, actual: Decimal) -> Decimal:
    """0–100, unrounded. Over-achievement is capped at 100; LOWER_IS_BETTER at 0 scores 100."""
    with localcontext(EXACT):
        if kpi.direction is KpiDirection.HIGHER_IS_BETTER:
            ratio = actual / kpi.target
        elif actual == 0:
            ratio = ONE
        else:
            ratio = kpi.target / actual
        return min(max(ratio, ZERO), ONE) * HUNDRED


def multiplier_for(bands: Sequence[ScoreBand], total: Decimal) -> Decimal:
    """The multiplier of the band with the highest minScore ≤ total; below every band, 0."""
    reached = [b for b in bands if b.min_score <= total]
    return max(reached, key=lambda b: b.min_score).multiplier if reached else ZERO


def score(template: ScorecardTemplate, actuals: Mapping[str, Decimal]) -> ScoreSheet:
    """Score every KPI of the template and pick the multiplier.

    Rounding: the total is Σ weight × KPI score / 100 over the *unrounded* KPI scores,
    rounded once to 2 places, half up — so it never inherits rounding from its parts. The
    per-KPI scores are rounded to 2 places only for display; the displayed parts may
    therefore differ from the total by a cent. The band is chosen with the rounded total,
    the figure the dealer sees.
    """
    lines: list[KpiScore] = []
    total = ZERO
    with localcontext(EXACT):
        for kpi in template.kpis:
            actual = actuals[kpi.code]
            exact = kpi_score(kpi, actual)
            total += kpi.weight * exact / HUNDRED
            lines.append(KpiScore(kpi=kpi, actual=actual, score=round_money(exact)))
    rounded = round_money(total)
    return ScoreSheet(kpi_scores=tuple(lines),
                      result=ScorecardResult(score=rounded,
                                             multiplier=multiplier_for(template.bands, rounded)))
