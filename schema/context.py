"""What a type's fields may read from the request context: the caller's dealer scope, the
request's language and the per-request DataLoaders.

A Protocol, so schema types name what they need without importing the context itself:
resolvers/context.py builds it (and resolvers/loaders.py the loaders), and no schema type
imports resolvers/ or the repositories (tests/service/test_layers.py). Every loader is
scoped: a DEALER caller gets None, or nothing, for another dealer's data.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import strawberry
from strawberry.dataloader import DataLoader

from domain.dealers import Dealer as DealerRecord
from domain.scorecards import Scorecard as ScorecardRecord
from domain.scorecards import ScorecardTemplate as TemplateRecord
from domain.segments import Segment as SegmentRecord
from domain.text import Text
from domain.violations import Violation as ViolationRecord
from schema.relay import PageArgs

if TYPE_CHECKING:
    from schema.accruals import Accrual, AccrualConnection
    from schema.dealers import DealerConnection
    from schema.programs import Program
    from schema.rebate_accounts import RebateAccount, RebateAccountEntryConnection
    from schema.targets import Target

# dealer code, program code, period (both as sent; None: any), the page asked
AccrualPageKey = tuple[str, str | None, str | None, PageArgs]
SegmentPageKey = tuple[str, PageArgs]  # segment code, the page asked
EntryPageKey = tuple[str, str, PageArgs]  # dealer code, currency, the page asked
ScorecardKey = tuple[str, str | None]  # dealer code, period (None: every period)
TargetKey = tuple[str, str | None]  # dealer code, program code (None: every program)
ProgramKey = tuple[str, int | None]  # program code, version (None: the current one)


class Loaders(Protocol):
    @property
    def dealer_by_code(self) -> DataLoader[str, DealerRecord | None]: ...

    @property
    def segment_by_code(self) -> DataLoader[str, SegmentRecord | None]: ...

    @property
    def scorecard_template_by_code(self) -> DataLoader[str, TemplateRecord | None]: ...

    @property
    def scorecards_by_dealer(self) -> DataLoader[ScorecardKey, list[ScorecardRecord]]: ...

    @property
    def violations_by_dealer(self) -> DataLoader[str, list[ViolationRecord]]: ...

    @property
    def dealers_by_segment(self) -> DataLoader[SegmentPageKey, DealerConnection]: ...

    @property
    def accruals_by_dealer(self) -> DataLoader[AccrualPageKey, AccrualConnection]: ...

    @property
    def accrual_by_id(self) -> DataLoader[str, Accrual | None]: ...

    @property
    def program_view_by_key(self) -> DataLoader[ProgramKey, Program | None]:
        """The program as the caller may see it: a DEALER sees only the terms it gets."""

    @property
    def targets_by_dealer(self) -> DataLoader[TargetKey, list[Target]]: ...

    @property
    def rebate_accounts_by_dealer(self) -> DataLoader[str, list[RebateAccount]]: ...

    @property
    def entries_by_account(self) -> DataLoader[EntryPageKey, RebateAccountEntryConnection]: ...


class RequestContext(Protocol):
    @property
    def scope(self) -> str | None:
        """The caller's dealer code when it is a DEALER; None for staff."""

    @property
    def loaders(self) -> Loaders: ...

    def say(self, text: Text) -> str:
        """The text in the request's language."""


Info = strawberry.Info[RequestContext, Any]
