"""Live accrual updates (SPEC §8): what a write announces, and what a subscriber is pushed.

A step that writes accruals (the engine's save, a close, a settlement, a dispute) announces
the program period and dealers it touched, once per batch (`publish`); the announcement goes
through MongoDB, so subscribers on every service process hear of it (service/feed.py). Each
subscriber re-reads the announced accruals it may see — a DEALER only its own — and is pushed
those whose figures or status it has not been pushed yet (`accrual_updates`).
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import AsyncGenerator, Hashable, Iterable
from dataclasses import dataclass, fields

from service.access import Forbidden
from service.auth import Principal
from service.deps import Deps
from service.errors import InvalidArgument
from service.repositories import accruals as accrual_repo
from service.repositories import changes
from service.repositories import dealers as dealer_repo
from service.repositories import programs as program_repo
from service.repositories.accruals import StoredAccrual
from service.repositories.changes import AccrualChange

log = logging.getLogger(__name__)
# The same words for another dealer's code and for a code that does not exist: a DEALER
# learns nothing about which dealers there are.
NOT_YOURS = "a DEALER may subscribe only to its own accruals"
REMEMBERED = 10_000  # accruals whose last push a subscriber remembers (to skip repeats)


async def publish(deps: Deps, program_code: str, period: str,
                  dealer_codes: Iterable[str] | None) -> None:
    """Announce that these dealers' accruals of a program period were written (None: any
    of the period's). Never raises: the accruals are saved; at worst a push is missed."""
    codes = None if dealer_codes is None else frozenset(dealer_codes)
    if codes is not None and not codes:
        return
    try:
        await changes.publish(deps.db, AccrualChange(program_code, period, codes),
                              now=deps.now())
    except Exception:
        log.warning("accrual changes of %s %s not announced: subscribers miss this push",
                    program_code, period, exc_info=True)


@dataclass(frozen=True)
class Watch:
    """What a subscription follows: None = every dealer / program the caller may see."""

    dealer_code: str | None
    program_code: str | None
    scope: str | None  # a DEALER's own code


async def watch(deps: Deps, principal: Principal, dealer_code: str | None,
                program_code: str | None) -> Watch:
    """A DEALER follows itself (its code or none) and is told nothing about other codes:
    its program code is not looked up either (a program it cannot see, or none, simply
    pushes nothing). Staff name a dealer and a program that exist, or none."""
    scope = principal.dealer_scope
    dealer = None if dealer_code is None else dealer_code.strip()
    program = None if program_code is None else program_code.strip()
    if scope is not None:
        if dealer is not None and dealer != scope:
            raise Forbidden(NOT_YOURS)
        return Watch(scope, program, scope)
    if dealer is not None and await dealer_repo.get(deps.db, dealer) is None:
        raise InvalidArgument("dealerCode", f"no dealer with code {dealer!r}")
    if program is not None and await program_repo.get(deps.db, program) is None:
        raise InvalidArgument("programCode", f"no program with code {program!r}")
    return Watch(dealer, program, None)


class _Pushed:
    """The figures and status last pushed per accrual, the oldest forgotten first."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._seen: OrderedDict[str, tuple[Hashable, ...]] = OrderedDict()

    def is_new(self, accrual: StoredAccrual) -> bool:
        shown = tuple(getattr(accrual, f.name) for f in fields(accrual) if f.compare)
        if self._seen.get(accrual.id) == shown:
            return False
        self._seen[accrual.id] = shown
        self._seen.move_to_end(accrual.id)
        if len(self._seen) > self.size:
            self._seen.popitem(last=False)
        return True


def _visible(change: AccrualChange, scope: str | None) -> frozenset[str] | None:
    """The announced dealers the subscriber may see (None: all of the period)."""
    if scope is None:
        return change.dealer_codes
    if change.dealer_codes is None or scope in change.dealer_codes:
        return frozenset({scope})
    return frozenset()


async def accrual_updates(deps: Deps, wanted: Watch) -> AsyncGenerator[StoredAccrual, None]:
    """Each accrual the subscription may see, as it is after every announced change that
    moved its figures or status; ends when the service stops."""
    feed = deps.accrual_feed
    if feed is None:
        raise RuntimeError("live updates need the service's accrual feed (service/bootstrap.py)")
    pushed = _Pushed()
    async with feed.listen(wanted.dealer_code, wanted.program_code) as listener:
        while (found := await listener.changes()) is not None:
            for change in found:
                codes = _visible(change, wanted.scope)
                if codes is not None and not codes:
                    continue
                for accrual in await accrual_repo.for_period(
                        deps.db, change.program_code, change.period, dealer_codes=codes):
                    if pushed.is_new(accrual):
                        yield accrual
