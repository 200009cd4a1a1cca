"""The role matrix of SPEC §5: which roles may call each root field.

One table for the whole API, so the README, the resolvers and the parametrised access
test all read the same thing. DEALER access to a read field means "its own data only":
the repositories scope every read by `Principal.dealer_scope`.
"""
from __future__ import annotations

from service.auth import Principal, Role

ADMIN, FINANCE, SALES = Role.ADMIN, Role.FINANCE, Role.SALES
SERVICE, DEALER = Role.SERVICE, Role.DEALER
STAFF = frozenset({ADMIN, FINANCE, SALES, SERVICE})
EVERYONE = STAFF | {DEALER}

ACCESS: dict[str, frozenset[Role]] = {
    # queries
    "node": EVERYONE,
    "dealer": EVERYONE,
    "dealers": EVERYONE,
    "segment": EVERYONE,
    "segments": EVERYONE,
    "program": EVERYONE,
    "programs": EVERYONE,
    "accruals": EVERYONE,
    "rebateForecast": EVERYONE,
    "scorecardTemplate": EVERYONE,  # templates are policy: a DEALER may read them
    "scorecardTemplates": EVERYONE,
    "auditEvents": STAFF,
    "accrualBacklog": STAFF,
    "alerts": STAFF,  # suspicions about a dealer: never shown to it
    "disputes": EVERYONE,
    "settlements": EVERYONE,
    # analytics (SPEC §7): across dealers, so never a DEALER; SERVICE syncs, it does not plan
    "rebateEffectiveness": frozenset({ADMIN, FINANCE, SALES}),
    "dealerRanking": frozenset({ADMIN, FINANCE, SALES}),
    # the Federation v2 subgraph (SPEC §8): `_entities` resolves references like `node`
    # (scoped: a DEALER gets null for another dealer); `_service` is the SDL (introspection)
    "_entities": EVERYONE,
    "_service": EVERYONE,
    # subscriptions (SPEC §8): a DEALER follows its own accruals only (usecases/live.py)
    "accrualUpdates": EVERYONE,
    # mutations
    "upsertDealer": frozenset({ADMIN, SALES}),
    "upsertSegment": frozenset({ADMIN, SALES}),
    "refreshSegments": frozenset({ADMIN, SALES}),
    "createProgram": frozenset({ADMIN, SALES}),  # SALES: drafts only
    "updateProgram": frozenset({ADMIN, SALES}),  # SALES: drafts only
    "activateProgram": frozenset({ADMIN, FINANCE}),
    "retireProgram": frozenset({ADMIN}),
    "createScorecardTemplate": frozenset({ADMIN, SALES}),
    "recordScorecard": frozenset({ADMIN, SALES}),
    "recordTransactions": frozenset({ADMIN, SERVICE}),
    # targets are the sales plan: set by sales management (or its planning system through
    # SERVICE); FINANCE approves programs and pays, so it does not also set the bar
    "setTargets": frozenset({ADMIN, SALES, SERVICE}),
    "reserveRebate": frozenset({ADMIN, FINANCE, SERVICE}),
    "captureRebate": frozenset({ADMIN, FINANCE, SERVICE}),
    "releaseRebate": frozenset({ADMIN, FINANCE, SERVICE}),
    "refundRebate": frozenset({ADMIN, FINANCE, SERVICE}),
    "acknowledgeAlert": frozenset({ADMIN, FINANCE, SALES}),
    "dismissAlert": frozenset({ADMIN, FINANCE, SALES}),
    "runAccruals": frozenset({ADMIN, FINANCE}),
    "recordViolation": frozenset({ADMIN, SALES}),
    "reinstateDealer": frozenset({ADMIN}),
    "closePeriod": frozenset({ADMIN, FINANCE}),
    "settle": frozenset({ADMIN, FINANCE}),
    "openDispute": frozenset({ADMIN, FINANCE, SALES, DEALER}),  # a DEALER: its own accruals
    "resolveDispute": frozenset({ADMIN, FINANCE}),
    "simulateProgram": frozenset({ADMIN, FINANCE, SALES}),  # stores nothing
}


class Forbidden(Exception):
    """The caller is authenticated but its role may not do this (→ FORBIDDEN)."""


def authorize(principal: Principal, field: str) -> None:
    allowed = ACCESS.get(field)
    if allowed is None or principal.role not in allowed:
        raise Forbidden(f"role {principal.role.value} may not use {field}")
