"""Program queries and mutations. A DEALER sees active programs that apply to it, with only
the terms it gets (another segment's terms are another dealer's business): the loaders
apply that (resolvers/loaders.py)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from domain.programs import ProgramStatus
from resolvers.context import Info
from resolvers.guard import allow, attempt
from schema.programs import Program, ProgramCodeInput, ProgramInput, ProgramPayload
from service.repositories import programs as program_repo
from service.repositories.programs import StoredProgram
from service.usecases import programs as use_cases


async def program(info: Info, code: Annotated[str, strawberry.argument(
        description="Program code.")]) -> Program | None:
    allow(info)
    loaders = info.context.loaders
    return await loaders.program_if_visible(await loaders.program_by_code.load(code.strip()))


async def programs(info: Info, status: Annotated[ProgramStatus | None, strawberry.argument(
        description="Only programs with this status.")] = None) -> list[Program]:
    allow(info)
    found = await program_repo.list_programs(info.context.deps.db, status=status)
    shown = [await info.context.loaders.program_if_visible(p) for p in found]
    return [p for p in shown if p is not None]


async def _program_mutation(info: Info,
                            call: Callable[[], Awaitable[StoredProgram]]) -> ProgramPayload:
    allow(info)
    stored, errors = await attempt(call)
    return ProgramPayload(
        program=Program.from_domain(stored.rules, stored.status) if stored else None,
        user_errors=errors)


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
