"""Program queries and mutations. A DEALER sees active programs that apply to it, with only
the terms it gets (another segment's terms are another dealer's business)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from domain.errors import RebateError
from domain.programs import ProgramStatus, Terms, choose_terms
from resolvers.context import Info
from resolvers.guard import allow, forbidden
from schema.errors import user_errors_of
from schema.programs import Program, ProgramCodeInput, ProgramInput, ProgramPayload
from service.access import Forbidden
from service.repositories import programs as program_repo
from service.repositories.programs import StoredProgram
from service.usecases import programs as use_cases


async def _dealer_terms(info: Info, program: StoredProgram) -> Terms | None:
    """For a DEALER: the terms it gets from this program (None: the program is not for it)."""
    scope = info.context.scope
    assert scope is not None
    dealer = await info.context.loaders.dealer_by_code.load(scope)
    if dealer is None or program.status is ProgramStatus.DRAFT:
        return None
    segments = await info.context.loaders.segment_by_code.load_many(list(dealer.segment_codes))
    return choose_terms(program.rules.terms,
                        [(s.code, s.priority) for s in segments if s is not None])


async def visible_program(info: Info, program: StoredProgram) -> Program:
    """The program as the caller may see it; a DEALER sees only the terms it gets."""
    if info.context.scope is None:
        return Program.from_stored(program)
    terms = await _dealer_terms(info, program)
    return Program.from_stored(program, only_terms=terms)


async def program_if_visible(info: Info, program: StoredProgram | None) -> Program | None:
    if program is None:
        return None
    if info.context.scope is not None and await _dealer_terms(info, program) is None:
        return None
    return await visible_program(info, program)


async def program(info: Info, code: Annotated[str, strawberry.argument(
        description="Program code.")]) -> Program | None:
    allow(info)
    return await program_if_visible(info, await program_repo.get(info.context.deps.db,
                                                                 code.strip()))


async def programs(info: Info, status: Annotated[ProgramStatus | None, strawberry.argument(
        description="Only programs with this status.")] = None) -> list[Program]:
    allow(info)
    found = await program_repo.list_programs(info.context.deps.db, status=status)
    shown = [await program_if_visible(info, p) for p in found]
    return [p for p in shown if p is not None]


async def _program_mutation(info: Info,
                            call: Callable[[], Awaitable[StoredProgram]]) -> ProgramPayload:
    allow(info)
    try:
        stored = await call()
    except Forbidden as error:
        raise forbidden(str(error)) from None
    except RebateError as error:
        return ProgramPayload(program=None, user_errors=user_errors_of(error))
    return ProgramPayload(program=Program.from_stored(stored), user_errors=[])


async def create_program(info: Info, input: ProgramInput) -> ProgramPayload:
    return await _program_mutation(info, lambda: use_cases.create_program(
        info.context.deps, info.context.principal, input.to_domain(),
        activate=bool(input.activate)))


async def update_program(info: Info, input: ProgramInput) -> ProgramPayload:
    return await _program_mutation(info, lambda: use_cases.update_program(
        info.context.deps, info.context.principal, input.to_domain(),
        activate=bool(input.activate)))


async def activate_program(info: Info, input: ProgramCodeInput) -> ProgramPayload:
    return await _program_mutation(info, lambda: use_cases.activate_program(
        info.context.deps, info.context.principal, input.code))


async def retire_program(info: Info, input: ProgramCodeInput) -> ProgramPayload:
    return await _program_mutation(info, lambda: use_cases.retire_program(
        info.context.deps, info.context.principal, input.code))
