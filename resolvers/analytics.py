"""simulateProgram, rebateEffectiveness and dealerRanking (SPEC §7): staff only."""
from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, TypeVar

import strawberry

from resolvers.context import Info
from resolvers.guard import allow, attempt
from resolvers.pages import checked
from schema.analytics import (
    EffectivenessGroup,
    EffectivenessRow,
    ProgramSimulation,
    RankedDealer,
    SimulateProgramInput,
    SimulationDealer,
    SimulationDealerConnection,
    SimulationDealerEdge,
    SimulationPayload,
    SimulationPeriod,
)
from schema.errors import argument_error
from schema.relay import PageArgs, connection
from service.errors import InvalidArgument
from service.usecases import analytics as use_cases

T = TypeVar("T")


async def _arguments_checked(call: Awaitable[T]) -> T:
    """A query's answer; an argument the use case refuses is a BAD_USER_INPUT naming it."""
    try:
        return await call
    except InvalidArgument as error:
        raise argument_error(error) from None


async def simulate_program(info: Info, input: SimulateProgramInput) -> SimulationPayload:
    allow(info)
    found, errors = await attempt(lambda: use_cases.simulate_program(
        info.context.deps, input.program.to_domain(), input.periods))
    if found is None:
        return SimulationPayload(simulation=None, user_errors=errors)
    simulation = found

    def pages(args: PageArgs) -> SimulationDealerConnection:
        page = use_cases.dealer_page(simulation,
                                     checked(use_cases.SIMULATION_DEALER_CURSOR, args))
        return connection(SimulationDealerConnection, SimulationDealerEdge, page,
                          SimulationDealer.from_domain)

    return SimulationPayload(simulation=ProgramSimulation(
        periods=[SimulationPeriod.from_domain(p) for p in simulation.periods], pages=pages),
        user_errors=[])


async def rebate_effectiveness(
        info: Info,
        program_code: Annotated[str, strawberry.argument(description="Program code.")],
        period: Annotated[str, strawberry.argument(
            description="One of the program's periods, e.g. 2026-Q3.")],
        group_by: Annotated[EffectivenessGroup, strawberry.argument(
            description="What a row is: a segment, region, product or dealer.")],
) -> list[EffectivenessRow]:
    allow(info)
    rows = await _arguments_checked(use_cases.rebate_effectiveness(
        info.context.deps, program_code, period, group_by))
    return [EffectivenessRow.from_domain(row) for row in rows]


async def dealer_ranking(
        info: Info,
        template_code: Annotated[str, strawberry.argument(
            description="Scorecard template code.")],
        period: Annotated[str, strawberry.argument(
            description="The scorecards' period, e.g. 2026-Q3, 2026-07 or 2026.")],
        first: Annotated[int | None, strawberry.argument(
            description="The first this many dealers, at most 100 (default 20).")] = None,
) -> list[RankedDealer]:
    allow(info)
    ranked = await _arguments_checked(use_cases.dealer_ranking(
        info.context.deps, template_code, period, first))
    return [RankedDealer.from_domain(entry) for entry in ranked]
