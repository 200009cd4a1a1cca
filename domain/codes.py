"""Shared rules for business codes and display names (dealer, segment, program codes…).

Codes are the CRM's keys: kept exactly as given apart from surrounding white space, limited
to a safe alphabet so they can never be mistaken for a query operator or a path.
"""
from __future__ import annotations

import re
import unicodedata

from domain.errors import FieldPath, Problems
from domain.text import Text

CODE_MAX = 64
NAME_MAX = 200
TEXT_MAX = 2000
LABEL_MAX = 64  # regions, channels
CODE_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]*")


def normalise_text(value: str) -> str:
    """NFC-normalise and strip; collapse nothing else (names keep their spelling)."""
    return unicodedata.normalize("NFC", value).strip()


def clean_code(value: str, path: FieldPath, problems: Problems) -> str:
    code = normalise_text(value)
    if not code:
        problems.add(path, Text("must not be empty"))
    elif len(code) > CODE_MAX:
        problems.add(path, Text("must be at most {limit} characters", limit=CODE_MAX))
    elif not CODE_PATTERN.fullmatch(code):
        problems.add(path, Text("may contain only letters, digits, '.', '_' and '-', "
                                "starting with a letter or digit"))
    return code


def clean_name(value: str, path: FieldPath, problems: Problems,
               limit: int = NAME_MAX) -> str:
    name = normalise_text(value)
    if not name:
        problems.add(path, Text("must not be empty"))
    elif len(name) > limit:
        problems.add(path, Text("must be at most {limit} characters", limit=limit))
    elif any(unicodedata.category(c) == "Cc" for c in name):
        problems.add(path, Text("must not contain control characters"))
    return name


def clean_optional_label(value: str | None, path: FieldPath, problems: Problems) -> str | None:
    """Regions and channels: optional short labels; empty means not given."""
    if value is None:
        return None
    label = normalise_text(value)
    if not label:
        return None
    if len(label) > LABEL_MAX:
        problems.add(path, Text("must be at most {limit} characters", limit=LABEL_MAX))
    elif any(unicodedata.category(c) == "Cc" for c in label):
        problems.add(path, Text("must not contain control characters"))
    return label
