"""The GraphQL schema: Query and Mutation assembled from the feature resolvers."""
from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from resolvers import accruals as accrual_resolvers
from resolvers import audit as audit_resolvers
from resolvers import dealers as dealer_resolvers
from resolvers import nodes as node_resolvers
from resolvers import programs as program_resolvers
from resolvers import segments as segment_resolvers
from resolvers import transactions as transaction_resolvers
from schema.accruals import AccrualConnection, RebateForecast, RunAccrualsPayload
from schema.audit import AuditEventConnection
from schema.dealers import Dealer, DealerConnection, DealerPayload
from schema.masking import MaskUnexpectedErrors
from schema.programs import Program, ProgramPayload
from schema.relay import Node
from schema.scalars import SCALAR_MAP
from schema.segments import Segment, SegmentPayload
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
    audit_events: AuditEventConnection = strawberry.field(
        resolver=audit_resolvers.audit_events,
        description="The audit log, newest first (staff).")


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
    record_transactions: RecordTransactionsPayload = strawberry.field(
        resolver=transaction_resolvers.record_transactions,
        description="Record up to 5,000 sales facts; idempotent by externalId. Accruals of "
                    "open periods follow within seconds.")
    run_accruals: RunAccrualsPayload = strawberry.field(
        resolver=accrual_resolvers.run_accruals,
        description="Compute every eligible dealer's accrual for a program period now.")
    refresh_segments: segment_resolvers.RefreshSegmentsPayload = strawberry.field(
        resolver=segment_resolvers.refresh_segments,
        description="Recompute every segment's membership (tenure, trailing sales).")


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query, mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[MaskUnexpectedErrors])


schema = build_schema()
