"""Alert types: anomalies for staff to review (surges, cross-region selling), never penalties."""
from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from domain import alerts as domain
from domain.text import Text
from schema.context import Info
from schema.dealers import Dealer, dealer_of
from schema.errors import UserError
from schema.relay import Node, PageInfo, to_global_id
from service.pagination import Total, count_of

AlertKind = domain.AlertKind
strawberry.enum(AlertKind, description="SURGE: a period's basis more than 3× the average of "
                                       "the three before (channel stuffing, merged orders); "
                                       "CROSS_REGION: goods delivered outside the dealer's "
                                       "region (窜货).")
AlertStatus = domain.AlertStatus
strawberry.enum(AlertStatus, description="OPEN (to review), ACKNOWLEDGED (being looked into), "
                                         "DISMISSED (closed; never raised again).")


@strawberry.type(description="An anomaly flagged for review. It changes no rebate: a confirmed "
                             "breach is recorded as a violation by staff.")
class Alert(Node):
    kind: AlertKind = strawberry.field(description="What was noticed.")
    status: AlertStatus = strawberry.field(description="Where the review stands.")
    program_code: str | None = strawberry.field(
        description="SURGE: the program whose basis jumped; null for CROSS_REGION.")
    period: str | None = strawberry.field(
        description="SURGE: the period that jumped, e.g. 2026-Q4; null for CROSS_REGION.")
    details: JSON = strawberry.field(
        description="The figures behind it. SURGE: basisKind, basis, average, previous "
                    "[{period, basis}]; CROSS_REGION: batchId, dealerRegion, regions, count, "
                    "externalIds (at most 50, `listed` of `count`). Decimals as strings.")
    created_at: dt.datetime = strawberry.field(description="When it was raised.")
    resolved_by: str | None = strawberry.field(
        description="Who last acknowledged or dismissed it (the token's `sub`).")
    resolved_at: dt.datetime | None = strawberry.field(
        description="When it was last acknowledged or dismissed.")
    resolution_note: str | None = strawberry.field(description="The reviewer's note.")
    dealer_code: strawberry.Private[str]
    text: strawberry.Private[Text]

    @strawberry.field(description="What was noticed, in words, in the request's language.")
    def message(self, info: Info) -> str:
        return info.context.say(self.text)

    @classmethod
    def from_domain(cls, alert: domain.Alert) -> Alert:
        return cls(id=to_global_id("Alert", alert.key), kind=alert.kind, status=alert.status,
                   program_code=alert.program_code, period=alert.period,
                   text=alert.message, details=JSON(dict(alert.details)),
                   created_at=alert.created_at, resolved_by=alert.resolved_by,
                   resolved_at=alert.resolved_at, resolution_note=alert.resolution_note,
                   dealer_code=alert.dealer_code)

    @strawberry.field(description="The dealer the alert is about.")
    async def dealer(self, info: Info) -> Dealer:
        return await dealer_of(info, self.dealer_code)  # alerts are staff-only


@strawberry.type(description="An alert in a page.")
class AlertEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue.")
    node: Alert = strawberry.field(description="The alert.")


@strawberry.type(description="A page of alerts, newest first.")
class AlertConnection:
    edges: list[AlertEdge] = strawberry.field(description="The alerts of this page.")
    page_info: PageInfo = strawberry.field(description="Paging state.")
    total: strawberry.Private[Total]

    @strawberry.field(description="Alerts matching, over all pages.")
    async def total_count(self) -> int:
        return await count_of(self.total)


@strawberry.input(description="Acknowledge an OPEN alert: someone is looking into it.")
class AcknowledgeAlertInput:
    alert_id: strawberry.ID = strawberry.field(description="The alert's global ID.")
    note: str | None = strawberry.field(
        default=None, description="For the record, at most 2,000 characters.")


@strawberry.input(description="Dismiss an OPEN or ACKNOWLEDGED alert: reviewed and closed.")
class DismissAlertInput:
    alert_id: strawberry.ID = strawberry.field(description="The alert's global ID.")
    note: str | None = strawberry.field(
        default=None, description="Why, for the record (at most 2,000 characters); without "
                                  "one an earlier note is kept.")


@strawberry.type(description="Result of acknowledgeAlert or dismissAlert.")
class AlertPayload:
    alert: Alert | None = strawberry.field(description="The alert after; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing changed.")
