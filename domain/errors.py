"""The one error family of the product. Validation gathers every problem before raising."""
from __future__ import annotations

from dataclasses import dataclass, field

FieldPath = tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: where, what, and a machine-readable code."""

    field: FieldPath
    message: str
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

    def __init__(self, field: FieldPath, message: str) -> None:
        super().__init__(message)
        self.problems = [Problem(field, message, "NOT_FOUND")]


class Conflict(RebateError):
    """The input contradicts what is stored."""

    def __init__(self, field: FieldPath, message: str) -> None:
        super().__init__(message)
        self.problems = [Problem(field, message, "CONFLICT")]


@dataclass
class Problems:
    """Collector used by validators: add problems, then `raise_if_any()` once."""

    items: list[Problem] = field(default_factory=list)

    def add(self, path: FieldPath, message: str, code: str = "INVALID") -> None:
        self.items.append(Problem(path, message, code))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ValidationFailed(list(self.items))
