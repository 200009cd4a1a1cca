"""setTargets, and which targets a caller may see."""
from __future__ import annotations

from domain.errors import RebateError
from resolvers.context import Info
from resolvers.guard import allow, argument_error
from resolvers.programs import program_if_visible
from schema.errors import user_errors_of
from schema.targets import SetTargetsInput, SetTargetsPayload, Target
from service.errors import InvalidArgument
from service.repositories.targets import Target as StoredTarget
from service.usecases.targets import TargetRow
from service.usecases.targets import set_targets as set_targets_use_case


async def set_targets(info: Info, input: SetTargetsInput) -> SetTargetsPayload:
    allow(info)
    rows = [TargetRow(dealer_code=t.dealer_code, period=t.period, amount=t.amount)
            for t in input.targets]
    try:
        result = await set_targets_use_case(info.context.deps, info.context.principal,
                                            input.program_code, rows)
    except InvalidArgument as error:
        raise argument_error(error) from None
    except RebateError as error:
        return SetTargetsPayload(targets=[], changed=0, user_errors=user_errors_of(error))
    return SetTargetsPayload(targets=[Target.from_domain(t) for t in result.targets],
                             changed=result.changed, user_errors=[])


async def visible_targets(info: Info, targets: list[StoredTarget]) -> list[StoredTarget]:
    """A DEALER sees the targets of the programs it may see (not of drafts, nor of programs
    with no terms for it); staff see all."""
    if info.context.scope is None:
        return targets
    codes = sorted({t.program_code for t in targets})
    programs = await info.context.loaders.program_by_code.load_many(codes)
    visible = {code for code, program in zip(codes, programs, strict=True)
               if await program_if_visible(info, program) is not None}
    return [t for t in targets if t.program_code in visible]
