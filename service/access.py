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
    "auditEvents": STAFF,
    # mutations
    "upsertDealer": frozenset({ADMIN, SALES}),
    "upsertSegment": frozenset({ADMIN, SALES}),
    "refreshSegments": frozenset({ADMIN, SALES}),
    "createProgram": frozenset({ADMIN, SALES}),  # SALES: drafts only
    "updateProgram": frozenset({ADMIN, SALES}),  # SALES: drafts only
    "activateProgram": frozenset({ADMIN, FINANCE}),
    "retireProgram": frozenset({ADMIN}),
    "recordTransactions": frozenset({ADMIN, SERVICE}),
    "runAccruals": frozenset({ADMIN, FINANCE}),
}


class Forbidden(Exception):
    """The caller is authenticated but its role may not do this (→ FORBIDDEN)."""


def authorize(principal: Principal, field: str) -> None:
    allowed = ACCESS.get(field)
    if allowed is None or principal.role not in allowed:
        raise Forbidden(f"role {principal.role.value} may not use {field}")
