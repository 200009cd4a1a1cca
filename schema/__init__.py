"""The GraphQL schema: Query and Mutation assembled from the feature resolvers."""
from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from resolvers import audit, dealers, nodes, segments
from schema.audit import AuditEventConnection
from schema.dealers import Dealer, DealerConnection, DealerPayload
from schema.masking import MaskUnexpectedErrors
from schema.relay import Node
from schema.scalars import SCALAR_MAP
from schema.segments import Segment, SegmentPayload


@strawberry.type(description="Read the rebate service. Every field checks the caller's role; "
                             "a DEALER sees only its own data.")
class Query:
    node: Node | None = strawberry.field(
        resolver=nodes.node, description="Any object by its global ID.")
    dealer: Dealer | None = strawberry.field(
        resolver=dealers.dealer, description="One dealer by code.")
    dealers: DealerConnection = strawberry.field(
        resolver=dealers.dealers, description="Dealers, ordered by code, filtered.")
    segment: Segment | None = strawberry.field(
        resolver=segments.segment, description="One segment by code.")
    segments: list[Segment] = strawberry.field(
        resolver=segments.segments, description="All segments, by priority.")
    audit_events: AuditEventConnection = strawberry.field(
        resolver=audit.audit_events, description="The audit log, newest first (staff).")


@strawberry.type(description="Change the rebate service. One `input` argument per mutation; "
                             "bad input comes back as userErrors and stores nothing.")
class Mutation:
    upsert_dealer: DealerPayload = strawberry.field(
        resolver=dealers.upsert_dealer, description="Create or update a dealer by code.")
    upsert_segment: SegmentPayload = strawberry.field(
        resolver=segments.upsert_segment, description="Create or update a segment by code; "
                                                      "membership is recomputed at once.")
    refresh_segments: segments.RefreshSegmentsPayload = strawberry.field(
        resolver=segments.refresh_segments,
        description="Recompute every segment's membership (tenure, trailing sales).")


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query, mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[MaskUnexpectedErrors])


schema = build_schema()
