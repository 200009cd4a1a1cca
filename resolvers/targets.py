"""setTargets. (Which targets a caller may see: the targets loader, resolvers/loaders.py.)"""
from __future__ import annotations

from resolvers import records
from resolvers.context import Info
from resolvers.guard import allow, attempt
from schema.targets import SetTargetsInput, SetTargetsPayload
from service.usecases.targets import TargetRow
from service.usecases.targets import set_targets as set_targets_use_case


async def set_targets(info: Info, input: SetTargetsInput) -> SetTargetsPayload:
    allow(info)
    rows = [TargetRow(dealer_code=t.dealer_code, period=t.period, amount=t.amount)
            for t in input.targets]
    result, errors = await attempt(lambda: set_targets_use_case(
        info.context.deps, info.context.principal, input.program_code, rows))
    if result is None:
        return SetTargetsPayload(targets=[], changed=0, user_errors=errors)
    return SetTargetsPayload(targets=[records.target(t) for t in result.targets],
                             changed=result.changed, user_errors=[])
