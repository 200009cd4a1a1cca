"""Control and money types: violations, period close, settlements, disputes."""
from __future__ import annotations

import datetime as dt
import decimal

import strawberry

from domain import disputes
from domain import violations as domain
from schema.accruals import Accrual
from schema.context import Info
from schema.dealers import Dealer, dealer_of
from schema.errors import UserError
from schema.programs import PayoutForm, Program, program_of
from schema.relay import Node, to_global_id

ViolationType = domain.ViolationType
PenaltyKind = domain.PenaltyKind
strawberry.enum(ViolationType, description="What the dealer did (违规).")
strawberry.enum(PenaltyKind, description="DEDUCT_PERCENT of the period's rebate; "
                                         "FORFEIT_PERIOD; FORFEIT_YEAR (and disqualification).")


async def _accrual(info: Info, accrual_id: str) -> Accrual:
    found = await info.context.loaders.accrual_by_id.load(accrual_id)
    if found is None:  # read through the same dealer scope as the object naming it
        raise LookupError(f"accrual {accrual_id} is missing")
    return found


@strawberry.type(description="A penalty: kind and, for DEDUCT_PERCENT, the percent.")
class Penalty:
    kind: PenaltyKind
    percent: decimal.Decimal | None


@strawberry.type(description="A violation (违规) and its penalty.")
class Violation(Node):
    type: ViolationType
    occurred_on: dt.date
    description: str
    penalty: Penalty
    dealer_code: strawberry.Private[str]

    @classmethod
    def from_domain(cls, violation: domain.Violation) -> Violation:
        return cls(id=to_global_id("Violation", violation.id), type=violation.type,
                   occurred_on=violation.occurred_on, description=violation.description,
                   penalty=Penalty(kind=violation.kind, percent=violation.percent),
                   dealer_code=violation.dealer_code)

    @strawberry.field(description="The dealer.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)


@strawberry.input(description="A penalty.")
class PenaltyInput:
    kind: PenaltyKind
    percent: decimal.Decimal | None = None


@strawberry.input(description="A violation to record; it applies at once.")
class ViolationInput:
    dealer_code: str
    type: ViolationType
    occurred_on: dt.date
    description: str
    penalty: PenaltyInput


@strawberry.type(description="Result of recordViolation.")
class ViolationPayload:
    violation: Violation | None
    user_errors: list[UserError]


@strawberry.input(description="Lift a dealer's disqualification.")
class ReinstateDealerInput:
    dealer_code: str
    note: str | None = None


@strawberry.input(description="Approve and lock a program period.")
class ClosePeriodInput:
    program_code: str
    period: str


@strawberry.type(description="The period's accruals after closing.")
class ClosePeriodPayload:
    accruals: list[Accrual]
    user_errors: list[UserError]


@strawberry.type(description="Whom a settlement line paid, frozen when the settlement began: a "
                             "later rename, move or tax change does not alter it.")
class SettlementPayee:
    dealer_code: str = strawberry.field(description="The dealer's code.")
    name: str = strawberry.field(description="The dealer's name as paid.")
    region: str | None = strawberry.field(description="The dealer's region as paid.")
    payout_form: PayoutForm = strawberry.field(
        description="The program's payout form the line was paid in.")
    tax_rate: decimal.Decimal = strawberry.field(
        description="The program's tax rate (percent withheld from CASH) the line was paid "
                    "with.")


@strawberry.type(description="One dealer's payout line.")
class SettlementLine:
    amount: decimal.Decimal = strawberry.field(description="The accrual's net.")
    tax_withheld: decimal.Decimal = strawberry.field(description="CASH: taxRate % of it.")
    payable: decimal.Decimal = strawberry.field(description="amount − taxWithheld.")
    form: PayoutForm
    payee: SettlementPayee = strawberry.field(
        description="Whom the line paid, as at settlement (settlements from before snapshots: "
                    "the dealer and the program as they are now).")
    dealer_code: strawberry.Private[str]
    accrual_id: strawberry.Private[str]

    @strawberry.field(description="The dealer as it is now (for the dealer as paid: `payee`).")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)

    @strawberry.field(description="The accrual paid.")
    async def accrual(self, info: Info) -> Accrual:
        return await _accrual(info, self.accrual_id)


@strawberry.type(description="A payout document: a line per dealer (a DEALER sees its own).")
class Settlement(Node):
    number: str = strawberry.field(
        description="Human-readable and unique, e.g. STL-2026-000123: the year the settlement "
                    "was made (UTC), then a per-year sequence.")
    period: str
    lines: list[SettlementLine]
    total_payable: decimal.Decimal = strawberry.field(description="Of the lines shown.")
    created_at: dt.datetime
    program_code: strawberry.Private[str]

    @strawberry.field(description="The program.")
    async def program(self, info: Info) -> Program:
        return await program_of(info, self.program_code)


@strawberry.input(description="Settle a closed program period.")
class SettleInput:
    program_code: str
    period: str


@strawberry.type(description="Result of settle.")
class SettlementPayload:
    settlement: Settlement | None
    user_errors: list[UserError]


DisputeStatus = disputes.DisputeStatus
strawberry.enum(DisputeStatus, description="OPEN until FINANCE or ADMIN accepts or rejects it.")


@strawberry.type(description="A dealer's appeal against an accrual (申诉).")
class Dispute(Node):
    reason: str
    status: DisputeStatus
    adjustment_amount: decimal.Decimal | None = strawberry.field(
        description="Added to the accrual when accepted with an adjustment.")
    resolution_note: str | None
    opened_by: str = strawberry.field(description="The token subject that opened it.")
    opened_at: dt.datetime
    accrual_id: strawberry.Private[str]

    @strawberry.field(description="The disputed accrual.")
    async def accrual(self, info: Info) -> Accrual:
        return await _accrual(info, self.accrual_id)


@strawberry.input(description="Dispute an approved accrual.")
class OpenDisputeInput:
    accrual_id: strawberry.ID
    reason: str


@strawberry.input(description="Accept (optionally with an adjustment) or reject a dispute.")
class ResolveDisputeInput:
    dispute_id: strawberry.ID
    accept: bool
    adjustment_amount: decimal.Decimal | None = None
    note: str | None = None


@strawberry.type(description="Result of a dispute mutation.")
class DisputePayload:
    dispute: Dispute | None
    user_errors: list[UserError]
