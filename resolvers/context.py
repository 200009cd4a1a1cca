"""The per-request GraphQL context: who calls, the use-case dependencies, the loaders."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.types import Info as StrawberryInfo

from resolvers.loaders import Loaders
from service.auth import Principal
from service.deps import Deps


@dataclass
class Context:
    principal: Principal
    deps: Deps
    loaders: Loaders
    request_id: str

    @property
    def scope(self) -> str | None:
        return self.principal.dealer_scope


Info = StrawberryInfo[Context, Any]


def build_context(principal: Principal, deps: Deps, request_id: str) -> Context:
    return Context(principal=principal, deps=deps,
                   loaders=Loaders(deps, principal.dealer_scope), request_id=request_id)
