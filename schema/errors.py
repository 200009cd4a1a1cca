"""The errors a client sees, one way each: `userErrors` for the expected failures of a
mutation (each with the path to the field at fault), top-level errors with an
`extensions.code` for a refused call or argument."""
from __future__ import annotations

import strawberry
from graphql import GraphQLError

from domain.errors import Problem
from domain.text import Text
from schema.context import Info
from service.errors import InvalidArgument


@strawberry.type(description="A problem with a mutation's input; nothing was stored.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field at fault, e.g. ["input", "terms", "0", "tiers"].')
    code: str = strawberry.field(description="INVALID | NOT_FOUND | CONFLICT | LOCKED | ...")
    text: strawberry.Private[Text]

    @strawberry.field(description="What is wrong, for a person, in the request's "
                                  "Accept-Language (zh-CN or en).")
    def message(self, info: Info) -> str:
        return info.context.say(self.text)

    @classmethod
    def from_problem(cls, problem: Problem) -> UserError:
        return cls(field=list(problem.field), code=problem.code, text=problem.message)


def user_errors_of(error: Exception) -> list[UserError]:
    """The userErrors of an expected failure (ValidationFailed, NotFound, Conflict …)."""
    return [UserError.from_problem(p) for p in getattr(error, "problems", [])]


def forbidden(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def bad_input(message: str, argument: str | None = None) -> GraphQLError:
    extensions: dict[str, object] = {"code": "BAD_USER_INPUT"}
    if argument:
        extensions["argument"] = argument
    return GraphQLError(message, extensions=extensions)


def argument_error(error: InvalidArgument) -> GraphQLError:
    return bad_input(str(error), error.argument)
