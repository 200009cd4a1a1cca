"""Control and money types: violations, period close, settlements, disputes."""
from __future__ import annotations

import datetime as dt
import decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from domain import disputes
from domain import violations as domain
from resolvers.context import Info
from schema.errors import UserError
from schema.relay import Node, to_global_id
from service.repositories import disputes as dispute_records
from service.repositories import settlements as settlement_records

if TYPE_CHECKING:
    from schema.accruals import Accrual
    from schema.dealers import Dealer
    from schema.programs import PayoutForm, Program

ViolationType = domain.ViolationType
PenaltyKind = domain.PenaltyKind
strawberry.enum(ViolationType, description="What the dealer did (违规).")
strawberry.enum(PenaltyKind, description="DEDUCT_PERCENT of the period's rebate; "
                                         "FORFEIT_PERIOD; FORFEIT_YEAR (and disqualification).")


async def _dealer(info: Info, code: str) -> Dealer:
    from schema.dealers import Dealer
    found = await info.context.loaders.dealer_by_code.load(code)
    assert found is not None  # loaded through the same dealer scope as the parent
    return Dealer.from_domain(found)


async def _accrual(info: Info, accrual_id: str) -> Accrual:
    from schema.accruals import Accrual
    found = await info.context.loaders.accrual_by_id.load(accrual_id)
    assert found is not None
    return Accrual.from_stored(found)


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
    async def dealer(self, info: Info) -> Annotated[Dealer, strawberry.lazy("schema.dealers")]:
        return await _dealer(info, self.dealer_code)


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
    accruals: list[Annotated[Accrual, strawberry.lazy("schema.accruals")]]
    user_errors: list[UserError]


@strawberry.type(description="Whom a settlement line paid, frozen when the settlement began: a "
                             "later rename, move or tax change does not alter it.")
class SettlementPayee:
    dealer_code: str = strawberry.field(description="The dealer's code.")
    name: str = strawberry.field(description="The dealer's name as paid.")
    region: str | None = strawberry.field(description="The dealer's region as paid.")
    payout_form: Annotated[PayoutForm, strawberry.lazy("schema.programs")] = strawberry.field(
        description="The program's payout form the line was paid in.")
    tax_rate: decimal.Decimal = strawberry.field(
        description="The program's tax rate (percent withheld from CASH) the line was paid "
                    "with.")

    @classmethod
    def from_record(cls, payee: settlement_records.Payee) -> SettlementPayee:
        return cls(dealer_code=payee.dealer_code, name=payee.name, region=payee.region,
                   payout_form=payee.payout_form, tax_rate=payee.tax_rate)


@strawberry.type(description="One dealer's payout line.")
class SettlementLine:
    amount: decimal.Decimal = strawberry.field(description="The accrual's net.")
    tax_withheld: decimal.Decimal = strawberry.field(description="CASH: taxRate % of it.")
    payable: decimal.Decimal = strawberry.field(description="amount − taxWithheld.")
    form: Annotated[PayoutForm, strawberry.lazy("schema.programs")]
    payee: SettlementPayee = strawberry.field(
        description="Whom the line paid, as at settlement (settlements from before snapshots: "
                    "the dealer and the program as they are now).")
    dealer_code: strawberry.Private[str]
    accrual_id: strawberry.Private[str]

    @strawberry.field(description="The dealer as it is now (for the dealer as paid: `payee`).")
    async def dealer(self, info: Info) -> Annotated[Dealer, strawberry.lazy("schema.dealers")]:
        return await _dealer(info, self.dealer_code)

    @strawberry.field(description="The accrual paid.")
    async def accrual(self, info: Info) -> Annotated[Accrual,
                                                     strawberry.lazy("schema.accruals")]:
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

    @classmethod
    def from_record(cls, record: settlement_records.Settlement,
                    scope: str | None) -> Settlement:
        lines = [line for line in record.lines if scope is None or line.dealer_code == scope]
        return cls(id=to_global_id("Settlement", record.id), number=record.number,
                   period=record.period,
                   lines=[SettlementLine(amount=line.amount, tax_withheld=line.tax_withheld,
                                         payable=line.payable, form=line.form,
                                         payee=SettlementPayee.from_record(line.payee),
                                         dealer_code=line.dealer_code,
                                         accrual_id=line.accrual_id) for line in lines],
                   total_payable=sum((line.payable for line in lines), decimal.Decimal(0))
                   if scope is not None else record.total_payable,
                   created_at=record.created_at, program_code=record.program_code)

    @strawberry.field(description="The program.")
    async def program(self, info: Info) -> Annotated[Program,
                                                     strawberry.lazy("schema.programs")]:
        from resolvers.programs import visible_program
        from service.repositories import programs as program_repo
        found = await program_repo.get(info.context.deps.db, self.program_code)
        assert found is not None
        return await visible_program(info, found)


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

    @classmethod
    def from_record(cls, record: dispute_records.Dispute) -> Dispute:
        return cls(id=to_global_id("Dispute", record.id), reason=record.reason,
                   status=DisputeStatus(record.status),
                   adjustment_amount=record.adjustment_amount,
                   resolution_note=record.resolution_note, opened_by=record.opened_by,
                   opened_at=record.opened_at, accrual_id=record.accrual_id)

    @strawberry.field(description="The disputed accrual.")
    async def accrual(self, info: Info) -> Annotated[Accrual,
                                                     strawberry.lazy("schema.accruals")]:
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
