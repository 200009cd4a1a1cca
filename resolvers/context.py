"""The per-request GraphQL context: who calls, the use-case dependencies, the loaders, and
the language people's text is rendered in. Schema types see it through the Protocol of
schema/context.py; resolvers through `Info` here."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.types import Info as StrawberryInfo

from domain.text import DEFAULT_LANGUAGE, Language, Locale, Text
from resolvers.loaders import Loaders
from schema.context import RequestContext
from service.auth import Principal
from service.deps import Deps


@dataclass
class Context:
    principal: Principal
    deps: Deps
    loaders: Loaders
    request_id: str
    language: Language = DEFAULT_LANGUAGE

    @property
    def scope(self) -> str | None:
        return self.principal.dealer_scope

    @property
    def locale(self) -> Locale:
        """The request's language and the business date ("to date (as of …)")."""
        return Locale(self.language, self.deps.today())

    def say(self, text: Text) -> str:
        return text.render(self.locale)


Info = StrawberryInfo[Context, Any]
# What schema types read of a context: mypy checks this context provides it.
_SCHEMA_SEES: type[RequestContext] = Context


def build_context(principal: Principal, deps: Deps, request_id: str,
                  language: Language = DEFAULT_LANGUAGE) -> Context:
    return Context(principal=principal, deps=deps,
                   loaders=Loaders(deps, principal.dealer_scope), request_id=request_id,
                   language=language)
