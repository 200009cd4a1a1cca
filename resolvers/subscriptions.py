"""Subscriptions: live accrual updates over graphql-transport-ws (SPEC §8)."""
from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator

from resolvers import records
from resolvers.context import Info
from resolvers.guard import allow
from resolvers.loaders import Loaders
from schema.accruals import Accrual
from schema.errors import argument_error, forbidden
from service.access import Forbidden
from service.errors import InvalidArgument
from service.usecases import live


async def accrual_updates(info: Info, dealer_code: str | None = None,
                          program_code: str | None = None) -> AsyncGenerator[Accrual, None]:
    """Checked before the stream starts, so a refusal is the operation's `error` message
    (nothing streamed) rather than a pushed error."""
    allow(info)
    context = info.context
    try:
        wanted = await live.watch(context.deps, context.principal, dealer_code, program_code)
    except Forbidden as error:
        raise forbidden(str(error)) from None
    except InvalidArgument as error:
        raise argument_error(error) from None
    return _pushes(info, wanted)


async def _pushes(info: Info, wanted: live.Watch) -> AsyncGenerator[Accrual, None]:
    context = info.context
    async with contextlib.aclosing(live.accrual_updates(context.deps, wanted)) as updates:
        async for accrual in updates:
            # each push is read like a request of its own: nested fields (dealer, program)
            # come fresh, not from loaders as old as the connection
            context.loaders = Loaders(context.deps, context.scope)
            yield records.accrual(accrual)
