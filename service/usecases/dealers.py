"""Dealer use cases."""
from __future__ import annotations

import datetime as dt
from typing import Any

from domain.dealers import Dealer, DealerStatus, check_status_change, validate_dealer
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, pending
from service.repositories import dealers as dealer_repo
from service.repositories.ids import new_id
from service.usecases import accrual_jobs, membership


async def upsert_dealer(deps: Deps, actor: Principal, *, code: str, name: str,
                        region: str | None = None, channel: str | None = None,
                        joined_on: dt.date | None = None, attributes: Any = None,
                        status: DealerStatus | None = None) -> Dealer:
    draft = validate_dealer(code=code, name=name, region=region, channel=channel,
                            joined_on=joined_on, attributes=attributes, status=status,
                            today=deps.today())
    current = await dealer_repo.get(deps.db, draft.code)
    if current is not None:
        check_status_change(current.status, draft.status)
    now = deps.now()
    mark = pending.marker(now, actor, auditId=new_id())
    before, _ = await dealer_repo.upsert(deps.db, draft, now=now, pending=mark)
    await membership.refresh_dealers(deps, [draft.code], mark=mark)  # marks it if it moved
    after = await dealer_repo.get_doc(deps.db, draft.code)
    assert after is not None
    if (before or {}).get("status") != after.get("status"):
        await accrual_jobs.mark_dealers_everywhere(deps, [draft.code])
    await audit.append(deps.db, actor=actor, action="upsertDealer", entity_type="Dealer",
                       entity_id=draft.code, before=pending.without_marker(before),
                       after=pending.without_marker(after),
                       now=now, dealer_code=draft.code, event_id=mark["auditId"])
    await dealer_repo.clear_pending(deps.db, {draft.code}, mark)
    return dealer_repo.from_doc(after)

