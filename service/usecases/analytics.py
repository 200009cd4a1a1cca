"""Analytics and policy simulation (SPEC §7, 市场分析与策略调整): simulateProgram,
rebateEffectiveness and dealerRanking. Nothing here writes."""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import replace

from domain.analytics import (
    DEFAULT_TERMS,
    NO_GROUP,
    Contribution,
    DealerDifference,
    DealerOutcome,
    EffectivenessGroup,
    EffectivenessRow,
    Ranked,
    Simulation,
    attributed_to_products,
    effectiveness_rows,
    rank,
    summarise,
    year_earlier,
)
from domain.codes import clean_code, clean_name
from domain.errors import Problems, message_of
from domain.money import ZERO
from domain.periods import DateRange, Period, parse_period, period_window, program_period
from domain.programs import ProgramRules, ProgramStatus, validate_program
from domain.text import Text
from service.deps import Deps
from service.errors import InvalidArgument
from service.pagination import Page, PageRequest, check_first, page_of
from service.repositories import analytics as analytics_repo
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories import scorecards as scorecard_repo
from service.repositories.basis import basis_by_dealer
from service.repositories.programs import StoredProgram
from service.repositories.segments import all_segments
from service.usecases.engine.inputs import dealer_terms
from service.usecases.engine.simulation import simulate_periods

SIMULATION_DEALER_CURSOR = "simulationDealer"


# ---- simulateProgram ---------------------------------------------------------------------

def _requested_periods(deps: Deps, rules: ProgramRules, names: Sequence[str],
                       problems: Problems) -> list[Period]:
    """The periods asked for, each a begun period of the program, once each."""
    if not names:
        problems.add(("input", "periods"), Text("must not be empty"))
    found: dict[str, Period] = {}
    for index, raw in enumerate(names):
        here = ("input", "periods", str(index))
        name = raw.strip()
        try:
            period = program_period(name, rules.period_kind, rules.valid_from, rules.valid_to)
        except ValueError as error:
            problems.add(here, message_of(error))
            continue
        if period.start > deps.today():
            problems.add(here, Text("{period} has not begun yet (today is {today})",
                                    period=period.name, today=deps.today()))
        elif period.name in found:
            problems.add(here, Text("{product} is listed twice", product=repr(period.name)))
        else:
            found[period.name] = period
    return sorted(found.values(), key=lambda p: p.start)


async def simulate_program(deps: Deps, rules: ProgramRules,
                           period_names: Sequence[str]) -> Simulation:
    """What `rules` would accrue in these periods on the stored history, computed by the
    accrual engine without writing anything (no program, version, audit, job or accrual),
    side by side with the stored accruals of the program with the same code. Every problem
    of the program (as createProgram checks it) and of the periods is reported at once."""
    problems = Problems()
    periods = _requested_periods(deps, rules, period_names, problems)
    segments = {s.code for s in await all_segments(deps.db)}
    templates = {t.code for t in await scorecard_repo.all_templates(deps.db)}
    validate_program(rules, segments, templates, ("input", "program"), problems)
    scratch = Problems()  # validated above; here only normalised, as createProgram stores it
    rules = replace(rules, code=clean_code(rules.code, ("code",), scratch),
                    name=clean_name(rules.name, ("name",), scratch))
    draft = StoredProgram(rules=rules, status=ProgramStatus.DRAFT)
    simulated = await simulate_periods(deps, draft, periods)
    outcomes = {p.name: [DealerOutcome(s.dealer_code, s.segment_code, s.figures.basis,
                                       s.figures.gross_amount, s.figures.net_amount)
                         for s in simulated.get(p.name, [])] for p in periods}
    current = await analytics_repo.stored_net(deps.db, rules.code, [p.name for p in periods])
    return summarise(outcomes, current)


def dealer_page(simulation: Simulation, request: PageRequest) -> Page[DealerDifference]:
    """A page of the simulation's dealers (ordered by code; the code is the cursor key)."""
    items = list(simulation.dealers)
    keys = [item.dealer_code for item in items]
    start = bisect_right(keys, request.after) if request.after is not None else 0
    end = bisect_left(keys, request.before) if request.before is not None else len(keys)
    window = list(range(start, max(start, end)))
    if request.backward:
        window.reverse()
    taken = window[:request.size + 1]
    return page_of([items[i] for i in taken], [keys[i] for i in taken],
                   kind=SIMULATION_DEALER_CURSOR, request=request, total=len(items),
                   more_before=start > 0, more_after=end < len(keys))


# ---- rebateEffectiveness -----------------------------------------------------------------

async def _program_and_period(deps: Deps, program_code: str,
                              period_name: str) -> tuple[StoredProgram, Period, DateRange]:
    code = program_code.strip()
    program = await program_repo.get(deps.db, code)
    if program is None:
        raise InvalidArgument("programCode",
                              str(Text("no program with code {code}", code=repr(code))))
    rules = program.rules
    try:
        period = program_period(period_name.strip(), rules.period_kind, rules.valid_from,
                                rules.valid_to)
    except ValueError as error:
        raise InvalidArgument("period", str(message_of(error))) from None
    window = period_window(period, rules.valid_from, rules.valid_to)
    assert window is not None  # program_period checked it
    return program, period, window


async def _group_keys(deps: Deps, program: StoredProgram, group_by: EffectivenessGroup,
                      codes: list[str]) -> dict[str, str]:
    """Each dealer's group: itself, its region, or the segment whose terms the program
    gives it (DEFAULT_TERMS: the default terms; NO_GROUP: none)."""
    if group_by is EffectivenessGroup.DEALER:
        return {code: code for code in codes}
    if group_by is EffectivenessGroup.REGION:
        dealers = await dealer_repo.get_many(deps.db, codes)
        return {code: (dealers[code].region if code in dealers else None) or NO_GROUP
                for code in codes}
    terms = await dealer_terms(deps, program, codes)
    keys = {code: NO_GROUP for code in codes}
    for code, (_dealer, found) in terms.items():
        if found is not None:
            keys[code] = found.segment_code or DEFAULT_TERMS
    return keys


async def rebate_effectiveness(deps: Deps, program_code: str, period_name: str,
                               group_by: EffectivenessGroup) -> list[EffectivenessRow]:
    """Per group: the period's basis (as the engine counts it), the net of the program's
    stored accruals of the period, and the basis of the same dates a year earlier."""
    program, period, window = await _program_and_period(deps, program_code, period_name)
    rules, before = program.rules, year_earlier(window)
    net = (await analytics_repo.stored_net(deps.db, rules.code, [period.name]))[period.name]
    contributions: list[Contribution] = []
    if group_by is EffectivenessGroup.PRODUCT:
        now = await analytics_repo.basis_by_product(deps.db, rules, window)
        earlier = await analytics_repo.basis_by_product(deps.db, rules, before)
        for products in now.values():
            contributions += [Contribution(p, basis=b) for p, b in products.items()]
        for products in earlier.values():
            contributions += [Contribution(p, basis_year_before=b) for p, b in products.items()]
        for code, amount in net.items():
            contributions += [Contribution(p, rebate=part) for p, part in
                              attributed_to_products(amount, now.get(code, {})).items()]
        return effectiveness_rows(contributions)
    basis = {code: b.period for code, b in (await basis_by_dealer(
        deps.db, rules, period=window, cumulative=window)).items()}
    basis_before = {code: b.period for code, b in (await basis_by_dealer(
        deps.db, rules, period=before, cumulative=before)).items()}
    codes = sorted(set(basis) | set(basis_before) | set(net))
    keys = await _group_keys(deps, program, group_by, codes)
    return effectiveness_rows(
        Contribution(keys[code], basis.get(code, ZERO), net.get(code, ZERO),
                     basis_before.get(code, ZERO)) for code in codes)


# ---- dealerRanking -----------------------------------------------------------------------

async def dealer_ranking(deps: Deps, template_code: str, period_name: str,
                         first: int | None) -> list[Ranked]:
    """Dealers by their score under the template for the period, highest first."""
    size = check_first(first)
    try:
        period = parse_period(period_name.strip())
    except ValueError as error:
        raise InvalidArgument("period", str(message_of(error))) from None
    code = template_code.strip()
    if await scorecard_repo.get_template(deps.db, code) is None:
        raise InvalidArgument("templateCode", str(Text(
            "scorecard template {template} does not exist", template=repr(code))))
    return rank(await analytics_repo.scores_of(deps.db, code, period.name))[:size]
