"""Sales facts from the CRM/ERP: row rules and the fingerprint that makes imports idempotent.

Amounts and quantities arrive positive; the kind gives the sign (RETURN subtracts).
Recording the same `externalId` with the same content twice counts it once; with different
content it is a conflict and nothing changes.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.basis import TransactionKind
from domain.codes import CODE_MAX, clean_code, clean_optional_label
from domain.errors import Problems
from domain.text import Text, joined

CURRENCY = re.compile(r"[A-Z]{3}")
EARLIEST = date(2000, 1, 1)
EXTERNAL_ID_MAX = 128
EXTERNAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/#\-]*")


@dataclass(frozen=True)
class Transaction:
    external_id: str
    dealer_code: str
    kind: TransactionKind
    date: date
    amount: Decimal
    currency: str
    product_code: str | None = None
    quantity: Decimal | None = None
    region: str | None = None

    @property
    def fingerprint(self) -> str:
        """Content identity: equal for the same fact however its numbers were written."""
        parts = [self.external_id, self.dealer_code, self.kind.value, self.date.isoformat(),
                 _canonical(self.amount), self.currency, self.product_code or "",
                 _canonical(self.quantity) if self.quantity is not None else "",
                 self.region or ""]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _canonical(value: Decimal) -> str:
    normal = value.normalize()
    return format(normal, "f") if normal != 0 else "0"


@dataclass(frozen=True)
class RowError:
    index: int
    external_id: str | None
    message: Text
    code: str = "INVALID"


def validate_row(index: int, *, external_id: str, dealer_code: str, kind: TransactionKind,
                 day: date, amount: Decimal, currency: str, product_code: str | None,
                 quantity: Decimal | None, region: str | None, today: date,
                 quantity_required: bool) -> Transaction | RowError:
    """One row: the first message names every field at fault, so a row is fixed in one go.

    `quantity_required`: a QUANTITY program counts this row's product, so a missing
    quantity would silently count as zero units.
    """
    problems = Problems()
    eid = external_id.strip()
    if not eid or len(eid) > EXTERNAL_ID_MAX or not EXTERNAL_ID.fullmatch(eid):
        problems.add(("externalId",), Text("must be 1–{limit} characters of letters, digits "
                                           "and . _ : / # -", limit=EXTERNAL_ID_MAX))
    dealer = clean_code(dealer_code, ("dealerCode",), problems)
    product = clean_code(product_code, ("productCode",), problems) \
        if product_code is not None and product_code.strip() else None
    if amount <= 0:
        problems.add(("amount",), Text("must be positive (the kind gives the sign)"))
    if quantity is not None and quantity < 0:
        problems.add(("quantity",), Text("must not be negative"))
    if quantity is None and quantity_required:
        problems.add(("quantity",), Text("is required: a QUANTITY program counts product "
                                         "{product}", product=product or "(any)"))
    if not EARLIEST <= day <= today:
        problems.add(("date",), Text("must be between {earliest} and today ({today})",
                                     earliest=EARLIEST, today=today))
    if not CURRENCY.fullmatch(currency):
        problems.add(("currency",), Text("must be a 3-letter uppercase code (ISO 4217)"))
    place = clean_optional_label(region, ("region",), problems)
    if problems:
        message = Text("{problems}", problems=joined(
            [Text("{field} {message}", field=p.field[0], message=p.message)
             for p in problems.items], "; "))
        return RowError(index, eid[:CODE_MAX * 2] or None, message)
    return Transaction(external_id=eid, dealer_code=dealer, kind=kind, date=day, amount=amount,
                       currency=currency, product_code=product, quantity=quantity,
                       region=place)
