"""Rebate accounts (返利账户): balances, entries, and the use of credit by orders."""
from __future__ import annotations

import datetime as dt
import decimal
import enum

import strawberry

from domain.rebate_account import EntryKind, UseStatus
from domain.text import Text
from schema.context import Info
from schema.dealers import Dealer, dealer_of
from schema.errors import UserError
from schema.relay import After, Before, First, Last, PageArgs, PageInfo
from service.pagination import Total, count_of

RebateEntryKind = strawberry.enum(EntryKind, name="RebateEntryKind",
                                  description="What an account entry records.")
RebateUseStatus = strawberry.enum(UseStatus, name="RebateUseStatus",
                                  description="Where an order's use of rebate stands.")


@strawberry.type(description="One entry of a rebate account; entries are never changed.")
class RebateAccountEntry:
    id: strawberry.ID = strawberry.field(description="The entry's key (its operation).")
    kind: EntryKind = strawberry.field(description="What the entry records.")
    amount: decimal.Decimal = strawberry.field(
        description="Signed effect on the balance (RESERVE/RELEASE: on reserved).")
    balance_after: decimal.Decimal = strawberry.field(description="The balance after it.")
    reserved_after: decimal.Decimal = strawberry.field(description="Reserved after it.")
    order_id: str | None = strawberry.field(description="The order that caused it.")
    settlement_id: strawberry.ID | None = strawberry.field(
        description="The settlement whose line credited (or reclaimed) the money.")
    expires_on: dt.date | None = strawberry.field(
        description="CREDIT: the last day the money may be used; EXPIRY: the day that passed.")
    at: dt.datetime = strawberry.field(description="When it was written.")
    note_text: strawberry.Private[Text | None]

    @strawberry.field(description="What caused it, in the caller's language.")
    def note(self, info: Info) -> str | None:
        return info.context.say(self.note_text) if self.note_text is not None else None


@strawberry.type(description="An entry in a page of entries.")
class RebateAccountEntryEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this one.")
    node: RebateAccountEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of an account's entries, newest first.")
class RebateAccountEntryConnection:
    edges: list[RebateAccountEntryEdge] = strawberry.field(description="This page's entries.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total: strawberry.Private[Total]

    @strawberry.field(description="Entries of the account, over all pages.")
    async def total_count(self) -> int:
        return await count_of(self.total)


@strawberry.type(description="A dealer's rebate account in one currency (返利账户).")
class RebateAccount:
    currency: str = strawberry.field(description="ISO 4217 code.")
    balance: decimal.Decimal = strawberry.field(
        description="Credits − captures − expiries − reclaims + refunds: the sum of entries.")
    reserved: decimal.Decimal = strawberry.field(description="Held for orders not yet final.")
    available: decimal.Decimal = strawberry.field(
        description="What an order may reserve now: balance − reserved, never expired credit.")
    dealer_code: strawberry.Private[str]

    @strawberry.field(description="The account holder.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)

    @strawberry.field(description="The account's entries, newest first.")
    async def entries(self, info: Info, first: First = None, after: After = None,
                      last: Last = None, before: Before = None) -> RebateAccountEntryConnection:
        return await info.context.loaders.entries_by_account.load(
            (self.dealer_code, self.currency, PageArgs(first, after, last, before)))


@strawberry.type(description="An order's use of rebate credit.")
class RebateUse:
    order_id: str = strawberry.field(description="The order system's id of the order.")
    currency: str = strawberry.field(description="ISO 4217 code.")
    amount: decimal.Decimal = strawberry.field(description="What the order uses.")
    refunded: decimal.Decimal = strawberry.field(description="Given back after a return.")
    status: UseStatus = strawberry.field(description="Reserved, captured or released.")
    dealer_code: strawberry.Private[str]

    @strawberry.field(description="The dealer whose credit it is.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)


@strawberry.input(description="Hold rebate credit for an order (idempotent by orderId).")
class ReserveRebateInput:
    dealer_code: str = strawberry.field(description="The dealer whose credit pays.")
    order_id: str = strawberry.field(description="The order system's id, 1–128 characters.")
    order_amount: decimal.Decimal = strawberry.field(description="The order's total.")
    amount: decimal.Decimal = strawberry.field(description="Rebate to hold, > 0.")
    currency: str = strawberry.field(description="ISO 4217 code of the account.")


@strawberry.input(description="The order whose reservation to capture or release.")
class RebateOrderInput:
    order_id: str = strawberry.field(description="The order system's id.")


@strawberry.input(description="Give back captured rebate of a returned order.")
class RefundRebateInput:
    order_id: str = strawberry.field(description="The order system's id.")
    amount: decimal.Decimal = strawberry.field(
        description="At most what was captured minus what was refunded.")
    refund_id: str | None = strawberry.field(
        default=None,
        description="The return's id in the order system, for several partial refunds of "
                    "one order (each idempotent by orderId + refundId). Without it an order "
                    "has one refund: the same call again answers the same, another amount "
                    "is CONFLICT.")


@strawberry.type(description="Result of reserveRebate, captureRebate, releaseRebate and "
                             "refundRebate.")
class RebateUsePayload:
    use: RebateUse | None = strawberry.field(description="The order's use; null on errors.")
    account: RebateAccount | None = strawberry.field(
        description="The account after the call; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing stored.")


__all__ = ["RebateEntryKind", "RebateUseStatus", "enum"]
