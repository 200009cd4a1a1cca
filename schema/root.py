"""The root operation types, Query and Mutation, assembled from the feature resolvers, and
the Schema, served as an Apollo Federation v2 subgraph (SPEC §8). `build_schema` takes the
`Subscription` type too when there is one.

This is where schema/ meets resolvers/: the one module of schema/ that names resolvers. The
type modules beside it never import resolvers/ nor the repositories, and resolvers/ never
import this module (tests/service/test_layers.py); schema/__init__.py loads it on first use.
"""
from __future__ import annotations

import logging
from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError
from strawberry import federation
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from resolvers import accruals as accrual_resolvers
from resolvers import alerts as alert_resolvers
from resolvers import analytics as analytics_resolvers
from resolvers import audit as audit_resolvers
from resolvers import control as control_resolvers
from resolvers import dealers as dealer_resolvers
from resolvers import entities as entity_resolvers
from resolvers import nodes as node_resolvers
from resolvers import programs as program_resolvers
from resolvers import rebate_accounts as rebate_resolvers
from resolvers import scorecards as scorecard_resolvers
from resolvers import segments as segment_resolvers
from resolvers import subscriptions as subscription_resolvers
from resolvers import targets as target_resolvers
from resolvers import transactions as transaction_resolvers
from schema.accruals import Accrual, AccrualConnection, RebateForecast, RunAccrualsPayload
from schema.alerts import AlertConnection, AlertPayload
from schema.analytics import EffectivenessRow, RankedDealer, SimulationPayload
from schema.audit import AuditEventConnection
from schema.control import (
    ClosePeriodPayload,
    Dispute,
    DisputePayload,
    Settlement,
    SettlementPayload,
    ViolationPayload,
)
from schema.dealers import Dealer, DealerConnection, DealerPayload
from schema.limits import Limits, limit_extensions
from schema.masking import MaskUnexpectedErrors, is_unexpected
from schema.observe import ObserveOperation
from schema.programs import Program, ProgramPayload
from schema.rebate_accounts import RebateUsePayload
from schema.relay import Node
from schema.scalars import SCALAR_MAP
from schema.scorecards import ScorecardPayload, ScorecardTemplate, ScorecardTemplatePayload
from schema.segments import RefreshSegmentsPayload, Segment, SegmentPayload
from schema.subgraph import FEDERATION_DEFINITIONS, FEDERATION_VERSION
from schema.targets import SetTargetsPayload
from schema.transactions import RecordTransactionsPayload


@strawberry.type(description="Read the rebate service. Every field checks the caller's role; "
                             "a DEALER sees only its own data.")
class Query:
    node: Node | None = strawberry.field(
        resolver=node_resolvers.node,
        description="Any object by its global ID.")
    dealer: Dealer | None = strawberry.field(
        resolver=dealer_resolvers.dealer,
        description="One dealer by code.")
    dealers: DealerConnection = strawberry.field(
        resolver=dealer_resolvers.dealers,
        description="Dealers, ordered by code, filtered.")
    segment: Segment | None = strawberry.field(
        resolver=segment_resolvers.segment,
        description="One segment by code.")
    segments: list[Segment] = strawberry.field(
        resolver=segment_resolvers.segments,
        description="All segments, by priority.")
    program: Program | None = strawberry.field(
        resolver=program_resolvers.program,
        description="One program (current version) by code.")
    programs: list[Program] = strawberry.field(
        resolver=program_resolvers.programs,
        description="Programs by code, optionally by status.")
    accruals: AccrualConnection = strawberry.field(
        resolver=accrual_resolvers.accruals,
        description="Accruals, filtered; a DEALER sees its own.")
    rebate_forecast: RebateForecast | None = strawberry.field(
        resolver=accrual_resolvers.rebate_forecast,
        description="Current vs projected rebate and the next tier: \"sell X more to earn Y\".")
    scorecard_template: ScorecardTemplate | None = strawberry.field(
        resolver=scorecard_resolvers.scorecard_template,
        description="One scorecard template by code (readable by every role).")
    scorecard_templates: list[ScorecardTemplate] = strawberry.field(
        resolver=scorecard_resolvers.scorecard_templates,
        description="Every scorecard template, by code (readable by every role).")
    disputes: list[Dispute] = strawberry.field(
        resolver=control_resolvers.dispute_list,
        description="Disputes, oldest first; a DEALER sees its own.")
    settlements: list[Settlement] = strawberry.field(
        resolver=control_resolvers.settlements,
        description="Payout documents; a DEALER sees those paying it, with its own lines.")
    accrual_backlog: int = strawberry.field(
        resolver=accrual_resolvers.accrual_backlog,
        description="Dealer × program recomputations waiting for the worker (0 = accruals "
                    "are current). For operations dashboards.")
    audit_events: AuditEventConnection = strawberry.field(
        resolver=audit_resolvers.audit_events,
        description="The audit log, newest first (staff).")
    alerts: AlertConnection = strawberry.field(
        resolver=alert_resolvers.alerts,
        description="Anomalies flagged for review, newest first (staff; never a DEALER).")
    rebate_effectiveness: list[EffectivenessRow] = strawberry.field(
        resolver=analytics_resolvers.rebate_effectiveness,
        description="Which customers or products a program's rebate money works on: per "
                    "group the period's basis, the rebate (stored net), the rebate as % of "
                    "the basis, the basis a year earlier and its growth (ADMIN, FINANCE, "
                    "SALES).")
    dealer_ranking: list[RankedDealer] = strawberry.field(
        resolver=analytics_resolvers.dealer_ranking,
        description="Dealers by scorecard score under a template for a period, highest "
                    "first, ties by dealer code (ADMIN, FINANCE, SALES).")


@strawberry.type(description="Change the rebate service. One `input` argument per mutation; "
                             "bad input comes back as userErrors and stores nothing.")
class Mutation:
    upsert_dealer: DealerPayload = strawberry.field(
        resolver=dealer_resolvers.upsert_dealer,
        description="Create or update a dealer by code.")
    upsert_segment: SegmentPayload = strawberry.field(
        resolver=segment_resolvers.upsert_segment,
        description="Create or update a segment by code; membership is recomputed at once.")
    create_program: ProgramPayload = strawberry.field(
        resolver=program_resolvers.create_program,
        description="Create a program: DRAFT, or ACTIVE with activate (ADMIN).")
    update_program: ProgramPayload = strawberry.field(
        resolver=program_resolvers.update_program,
        description="Edit a program by code; an ACTIVE program gets a new version.")
    activate_program: ProgramPayload = strawberry.field(
        resolver=program_resolvers.activate_program,
        description="Approve a DRAFT program: it accrues from now on (ADMIN, FINANCE).")
    retire_program: ProgramPayload = strawberry.field(
        resolver=program_resolvers.retire_program,
        description="Stop a program accruing (ADMIN).")
    create_scorecard_template: ScorecardTemplatePayload = strawberry.field(
        resolver=scorecard_resolvers.create_scorecard_template,
        description="Create a scorecard template: KPIs weighted to 100 and multiplier bands.")
    record_scorecard: ScorecardPayload = strawberry.field(
        resolver=scorecard_resolvers.record_scorecard,
        description="Record a dealer's KPI actuals for a period; recording again replaces "
                    "them. Accruals waiting for the scorecard follow within seconds.")
    record_transactions: RecordTransactionsPayload = strawberry.field(
        resolver=transaction_resolvers.record_transactions,
        description="Record up to 5,000 sales facts; idempotent by externalId. Accruals of "
                    "open periods follow within seconds.")
    set_targets: SetTargetsPayload = strawberry.field(
        resolver=target_resolvers.set_targets,
        description="Set dealers' targets (销售任务) of a program's periods, up to 5,000 rows; "
                    "all or nothing. A closed period's target is LOCKED. Accruals follow "
                    "within seconds (ADMIN, SALES, SERVICE).")
    reserve_rebate: RebateUsePayload = strawberry.field(
        resolver=rebate_resolvers.reserve_rebate,
        description="Hold a dealer's rebate credit for an order (ADMIN, FINANCE, SERVICE); "
                    "idempotent by orderId, never more than is available.")
    capture_rebate: RebateUsePayload = strawberry.field(
        resolver=rebate_resolvers.capture_rebate,
        description="Spend an order's reserved rebate: the order is confirmed.")
    release_rebate: RebateUsePayload = strawberry.field(
        resolver=rebate_resolvers.release_rebate,
        description="Free an order's reserved rebate: the order is cancelled.")
    refund_rebate: RebateUsePayload = strawberry.field(
        resolver=rebate_resolvers.refund_rebate,
        description="Give back all or part of an order's captured rebate: goods returned.")
    run_accruals: RunAccrualsPayload = strawberry.field(
        resolver=accrual_resolvers.run_accruals,
        description="Compute every eligible dealer's accrual for a program period now.")
    simulate_program: SimulationPayload = strawberry.field(
        resolver=analytics_resolvers.simulate_program,
        description="What a draft or changed program would accrue on the stored history, "
                    "per period, segment and dealer, beside what the stored accruals of the "
                    "same program code hold. Computed by the accrual engine; nothing is "
                    "stored (ADMIN, FINANCE, SALES).")
    acknowledge_alert: AlertPayload = strawberry.field(
        resolver=alert_resolvers.acknowledge_alert,
        description="Mark an OPEN alert as being looked into (ADMIN, FINANCE, SALES).")
    dismiss_alert: AlertPayload = strawberry.field(
        resolver=alert_resolvers.dismiss_alert,
        description="Close an OPEN or ACKNOWLEDGED alert after review; the same anomaly is "
                    "never raised again (ADMIN, FINANCE, SALES).")
    record_violation: ViolationPayload = strawberry.field(
        resolver=control_resolvers.record_violation,
        description="Record a violation (违规); its penalty applies at once to every accrual "
                    "it touches (FORFEIT_YEAR also disqualifies the dealer).")
    reinstate_dealer: DealerPayload = strawberry.field(
        resolver=control_resolvers.reinstate_dealer,
        description="Lift a DISQUALIFIED dealer's disqualification (ADMIN).")
    close_period: ClosePeriodPayload = strawberry.field(
        resolver=control_resolvers.close_period,
        description="Approve a program period's OPEN accruals and lock them for good.")
    settle: SettlementPayload = strawberry.field(
        resolver=control_resolvers.settle,
        description="Pay a closed period's approved accruals: a line per dealer; never "
                    "twice.")
    open_dispute: DisputePayload = strawberry.field(
        resolver=control_resolvers.open_dispute,
        description="Dispute an approved accrual (a DEALER: its own).")
    resolve_dispute: DisputePayload = strawberry.field(
        resolver=control_resolvers.resolve_dispute,
        description="Accept (optionally with an adjustment) or reject a dispute.")
    refresh_segments: RefreshSegmentsPayload = strawberry.field(
        resolver=segment_resolvers.refresh_segments,
        description="Recompute every segment's membership (tenure, trailing sales).")


@strawberry.type(description="Live updates over the graphql-transport-ws protocol on /graphql; "
                             "the token goes in connection_init's payload.")
class Subscription:
    accrual_updates: AsyncGenerator[Accrual, None] = strawberry.subscription(
        resolver=subscription_resolvers.accrual_updates,
        description="Each accrual, within 2 s of a change that moved its figures or status "
                    "(a transaction, target, scorecard, violation, close, settlement or "
                    "dispute). A DEALER follows its own accruals only.")


log = logging.getLogger("rebates.graphql")


class RebatesSchema(federation.Schema):
    """Logs what a client got wrong at DEBUG; crashes are logged (with the request id and
    the stack) by MaskUnexpectedErrors, so nothing expected fills the error log."""

    def entities_resolver(self, info: strawberry.Info,
                          representations: list[FederationAny]) -> list[FederationAny]:
        """`_entities`, checked and scoped like every root field (resolvers/entities.py)."""
        return entity_resolvers.entities(info, representations)  # type: ignore[return-value]

    def as_str(self) -> str:
        """The SDL `schema.graphql` holds: the subgraph SDL `_service { sdl }` serves, after
        the definitions of the federation directives it applies, so that it is a complete
        schema any GraphQL tool reads (`_service` leaves them out, as subgraphs do)."""
        return f"{FEDERATION_DEFINITIONS}\n\n{super().as_str()}"

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            if not is_unexpected(error):
                log.debug("refused: %s", error.message)


def build_schema(limits: Limits | None = None) -> strawberry.Schema:
    """One schema per process: its limit extensions (and their validation rules) are built
    here once, never per request."""
    return RebatesSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALAR_MAP), federation_version=FEDERATION_VERSION,
        extensions=[ObserveOperation, *limit_extensions(limits or Limits()),
                    MaskUnexpectedErrors, lambda: ValidationCache(maxsize=256),
                    lambda: ParserCache(maxsize=256)])


schema = build_schema()
