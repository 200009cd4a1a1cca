"""The one error family of the product. Validation gathers every problem before raising.

Messages are `Text` (domain/text.py): the API renders them in the caller's language.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from domain.text import Text, as_text

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what, and a machine-readable code."""

    field: FieldPath
    message: Text
    code: str = "INVALID"


class RebateError(Exception):
    """Base of every expected failure of the product."""


class ValidationFailed(RebateError):
    """The input breaks one or more rules; nothing was stored."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(p.field)}: {p.message}" for p in problems))
        self.problems = problems


class NotFound(RebateError):
    """The thing named does not exist (or is not visible to the caller)."""

    def __init__(self, field: FieldPath, message: Text | str) -> None:
        text = as_text(message)
        super().__init__(str(text))
        self.problems = [Problem(field, text, "NOT_FOUND")]


class Conflict(RebateError):
    """The input contradicts what is stored."""

    def __init__(self, field: FieldPath, message: Text | str) -> None:
        text = as_text(message)
        super().__init__(str(text))
        self.problems = [Problem(field, text, "CONFLICT")]


class InvalidValue(ValueError):
    """A value that cannot be what it claims (a period name, a decimal): says why, in Text."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


def message_of(error: ValueError) -> Text:
    """The people's text of a ValueError raised by a rule (plain text for any other)."""
    return error.text if isinstance(error, InvalidValue) else Text.verbatim(str(error))


@dataclass
class Problems:
    """Collector used by validators: add problems, then `raise_if_any()` once."""

    items: list[Problem] = field(default_factory=list)

    def add(self, path: FieldPath, message: Text | str, code: str = "INVALID") -> None:
        self.items.append(Problem(path, as_text(message), code))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(list(self.items))
