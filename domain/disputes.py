"""Disputes (申诉): the states a dealer's appeal goes through."""
from __future__ import annotations

from enum import StrEnum


class DisputeStatus(StrEnum):
    OPEN = "OPEN"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
