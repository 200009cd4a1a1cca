"""Repository records as GraphQL objects. A type built from a domain object has its own
`from_domain`; a record of service/repositories is mapped here, once, because schema types
never import the repositories (tests/service/test_layers.py)."""
from __future__ import annotations

import datetime as dt
import decimal

import strawberry

from schema.accruals import Accrual, RebateForecast
from schema.audit import AuditEvent
from schema.control import Dispute, DisputeStatus, Settlement, SettlementLine, SettlementPayee
from schema.rebate_accounts import RebateAccount, RebateAccountEntry, RebateUse
from schema.relay import to_global_id
from schema.targets import Target
from service.repositories import audit, disputes, rebate_accounts, settlements, targets
from service.repositories.accruals import StoredAccrual
from service.usecases.accruals import DealerForecast


def accrual(stored: StoredAccrual) -> Accrual:
    return Accrual(
        id=to_global_id("Accrual", stored.id), period=stored.period, basis=stored.basis,
        cumulative_basis=stored.cumulative_basis, rate=stored.rate,
        gross_amount=stored.gross_amount, score_multiplier=stored.score_multiplier,
        deduction_amount=stored.deduction_amount, adjustment_amount=stored.adjustment_amount,
        net_amount=stored.net_amount, status=stored.status,
        trace=lambda: stored.calculation,
        program_version=stored.program_version, computed_at=stored.computed_at,
        target=stored.target, achievement_percent=stored.achievement_percent,
        dealer_code=stored.dealer_code, program_code=stored.program_code)


def rebate_forecast(found: DealerForecast, dealer_code: str, period: str) -> RebateForecast:
    result, share, progress = found.figures, found.share, found.progress
    return RebateForecast(
        period=period, scope=share.scope, currency=found.program.rules.currency,
        current_basis=result.current_basis, current_rate=result.current_rate,
        current_rebate=result.current_rebate, projected_basis=result.projected_basis,
        projected_rebate=result.projected_rebate,
        next_tier_threshold=result.next_tier_threshold,
        amount_to_next_tier=result.amount_to_next_tier,
        rebate_at_next_tier=result.rebate_at_next_tier,
        earlier_periods_rebate=share.earlier_periods_rebate,
        period_rebate=share.period_rebate,
        projected_period_rebate=share.projected_period_rebate,
        period_rebate_at_next_tier=share.period_rebate_at_next_tier,
        target=progress.target if progress else None,
        achievement_percent=progress.achievement_percent if progress else None,
        amount_to_target=progress.amount_to_target if progress else None,
        dealer_code=dealer_code, program_code=found.program.code, summary=found.explanation)


def settlement(record: settlements.Settlement, scope: str | None) -> Settlement:
    """A DEALER sees only its own lines, and the total of those."""
    lines = [line for line in record.lines if scope is None or line.dealer_code == scope]
    return Settlement(
        id=to_global_id("Settlement", record.id), number=record.number, period=record.period,
        lines=[SettlementLine(amount=line.amount, tax_withheld=line.tax_withheld,
                              payable=line.payable, form=line.form,
                              payee=_payee(line.payee), dealer_code=line.dealer_code,
                              accrual_id=line.accrual_id) for line in lines],
        total_payable=sum((line.payable for line in lines), decimal.Decimal(0))
        if scope is not None else record.total_payable,
        created_at=record.created_at, program_code=record.program_code)


def _payee(payee: settlements.Payee) -> SettlementPayee:
    return SettlementPayee(dealer_code=payee.dealer_code, name=payee.name,
                           region=payee.region, payout_form=payee.payout_form,
                           tax_rate=payee.tax_rate)


def dispute(record: disputes.Dispute) -> Dispute:
    return Dispute(id=to_global_id("Dispute", record.id), reason=record.reason,
                   status=DisputeStatus(record.status),
                   adjustment_amount=record.adjustment_amount,
                   resolution_note=record.resolution_note, opened_by=record.opened_by,
                   opened_at=record.opened_at, accrual_id=record.accrual_id)


def audit_event(event: audit.AuditEvent) -> AuditEvent:
    return AuditEvent(id=to_global_id("AuditEvent", event.id), at=event.at, actor=event.actor,
                      role=event.role, action=event.action, entity_type=event.entity_type,
                      entity_id=event.entity_id, before=event.before, after=event.after)


def target(stored: targets.Target) -> Target:
    return Target(period=stored.period, amount=stored.amount,
                  dealer_code=stored.dealer_code, program_code=stored.program_code)


def cents(value: decimal.Decimal) -> decimal.Decimal:
    """Money as every figure of the API shows it: to the cent ("2.50", "0.00"). Ledger
    amounts have at most 2 decimals (inputs are checked), so this never rounds."""
    return value.quantize(decimal.Decimal("0.01"))


def rebate_account(account: rebate_accounts.Account, as_of: dt.date) -> RebateAccount:
    return RebateAccount(currency=account.currency, balance=cents(account.balance),
                         reserved=cents(account.reserved),
                         available=cents(account.available(as_of)),
                         dealer_code=account.dealer_code)


def account_entry(entry: rebate_accounts.Entry) -> RebateAccountEntry:
    return RebateAccountEntry(
        id=strawberry.ID(entry.id), kind=entry.kind, amount=cents(entry.amount),
        balance_after=cents(entry.balance_after), reserved_after=cents(entry.reserved_after),
        order_id=entry.order_id,
        settlement_id=to_global_id("Settlement", entry.settlement_id)
        if entry.settlement_id else None,
        expires_on=entry.expires_on, at=entry.at, note_text=entry.note)


def rebate_use(use: rebate_accounts.Use) -> RebateUse:
    return RebateUse(order_id=use.order_id, currency=use.currency, amount=cents(use.amount),
                     refunded=cents(use.refunded), status=use.status,
                     dealer_code=use.dealer_code)
