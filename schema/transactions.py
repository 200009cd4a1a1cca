"""Transaction inputs: sales facts from the CRM/ERP, recorded in batches."""
from __future__ import annotations

import datetime as dt
import decimal

import strawberry

from domain import basis
from domain.text import Text
from domain.transactions import RowError
from schema.context import Info

TransactionKind = basis.TransactionKind
strawberry.enum(TransactionKind, description="INVOICE adds, RETURN subtracts, PAYMENT is "
                                             "collected cash.")


@strawberry.input(description="One sales fact. Amounts and quantities are positive; the kind "
                              "gives the sign.")
class TransactionInput:
    external_id: str = strawberry.field(description="The source system's unique id.")
    dealer_code: str
    kind: TransactionKind
    date: dt.date
    product_code: str | None = None
    quantity: decimal.Decimal | None = None
    amount: decimal.Decimal
    currency: str
    region: str | None = strawberry.field(default=None, description="Where the goods went.")


@strawberry.input(description="At most 5,000 transactions per call.")
class RecordTransactionsInput:
    transactions: list[TransactionInput]
    last_batch: bool = strawberry.field(
        default=False,
        description="The last batch of an import: once it is stored, accruals are brought up "
                    "to date at once instead of after a second without new sales (which "
                    "tells an import's next batch from its end). `rebates import` sets it.")


@strawberry.type(description="A row that was not stored, by its index in the input.")
class TransactionError:
    index: int
    external_id: str | None
    code: str = strawberry.field(description="INVALID, NOT_FOUND (dealer) or CONFLICT.")
    text: strawberry.Private[Text]

    @strawberry.field(description="What is wrong with the row, in the request's language.")
    def message(self, info: Info) -> str:
        return info.context.say(self.text)

    @classmethod
    def from_domain(cls, error: RowError) -> TransactionError:
        return cls(index=error.index, external_id=error.external_id, code=error.code,
                   text=error.message)


@strawberry.type(description="What happened to a batch: stored, already there, refused.")
class RecordTransactionsPayload:
    accepted: int = strawberry.field(description="Rows stored now.")
    duplicates: int = strawberry.field(description="Rows already stored with the same content.")
    errors: list[TransactionError] = strawberry.field(description="Rows refused.")
