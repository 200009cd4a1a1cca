"""recordTransactions."""
from __future__ import annotations

from resolvers.context import Info
from resolvers.guard import allow
from schema.errors import argument_error
from schema.transactions import (
    RecordTransactionsInput,
    RecordTransactionsPayload,
    TransactionError,
)
from service.errors import InvalidArgument
from service.usecases.transactions import TransactionRow
from service.usecases.transactions import record_transactions as record


async def record_transactions(info: Info,
                              input: RecordTransactionsInput,
                              ) -> RecordTransactionsPayload:
    allow(info)
    rows = [TransactionRow(external_id=t.external_id, dealer_code=t.dealer_code, kind=t.kind,
                           date=t.date, amount=t.amount, currency=t.currency.strip(),
                           product_code=t.product_code, quantity=t.quantity, region=t.region)
            for t in input.transactions]
    try:
        result = await record(info.context.deps, info.context.principal, rows,
                              last_batch=input.last_batch)
    except InvalidArgument as error:
        raise argument_error(error) from None
    return RecordTransactionsPayload(
        accepted=result.accepted, duplicates=result.duplicates,
        errors=[TransactionError.from_domain(e) for e in result.errors])
