"""Query building blocks shared by the repositories."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def one_of(values: Iterable[str]) -> Any:
    """Match any of `values`: a plain equality when there is one, `$in` otherwise.

    Same meaning either way, but an equality is planned on the index by every
    MongoDB-compatible server, while the embedded one scans the collection for `$in` —
    and the worker's recomputations ask about one dealer at a time.
    """
    items = list(dict.fromkeys(values))
    return items[0] if len(items) == 1 else {"$in": items}


LONG_LIST = 32


def narrowing(values: Iterable[str]) -> Any | None:
    """Like `one_of`, but None for a long list: the embedded server checks `$in` against
    every document, so for hundreds of codes one plain pass, filtered afterwards by the
    caller, is many times faster."""
    items = list(dict.fromkeys(values))
    return None if len(items) > LONG_LIST else one_of(items)
