"""Target types: a dealer's target (销售任务) for one program period."""
from __future__ import annotations

import decimal

import strawberry

from schema.context import Info
from schema.dealers import Dealer, dealer_of
from schema.errors import UserError
from schema.programs import Program, program_of


@strawberry.type(description="What a dealer is asked to reach in one program period (销售任务); "
                             "a TARGET_ACHIEVEMENT program reads its tiers as percentages of it.")
class Target:
    period: str = strawberry.field(description="The program period, e.g. 2026-Q1.")
    amount: decimal.Decimal = strawberry.field(
        description="In the basis's unit: money in the program's currency, or units for a "
                    "QUANTITY program.")
    dealer_code: strawberry.Private[str]
    program_code: strawberry.Private[str]

    @strawberry.field(description="The dealer.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)

    @strawberry.field(description="The program (current version).")
    async def program(self, info: Info) -> Program:
        return await program_of(info, self.program_code)


@strawberry.input(description="One dealer's target for one period of the program.")
class TargetInput:
    dealer_code: str = strawberry.field(description="The CRM's dealer code.")
    period: str = strawberry.field(description="One of the program's periods, e.g. 2026-Q1, "
                                               "2026-03 or 2026 (its periodKind).")
    amount: decimal.Decimal = strawberry.field(
        description="Greater than 0: money (at most 2 decimals), or units for a QUANTITY "
                    "program.")


@strawberry.input(description="Targets of one program: at most 5,000 rows per call, one per "
                              "dealer × period; if any row is wrong, nothing is stored.")
class SetTargetsInput:
    program_code: str = strawberry.field(description="The program the targets are for.")
    targets: list[TargetInput] = strawberry.field(description="The rows to set.")


@strawberry.type(description="Result of setTargets.")
class SetTargetsPayload:
    targets: list[Target] = strawberry.field(
        description="Every row of the call as now stored, in input order; empty on errors.")
    changed: int = strawberry.field(
        description="Rows that changed a stored target; the others already had that amount.")
    user_errors: list[UserError] = strawberry.field(
        description='Problems by row, e.g. field ["input", "targets", "3", "amount"]; '
                    "nothing was stored.")
