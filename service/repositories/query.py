"""Query building blocks shared by the repositories."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bson.errors import InvalidId
from pymongo.asynchronous.collection import AsyncCollection

from service.errors import InvalidArgument
from service.pagination import Page, PageRequest, page_of

T = TypeVar("T")


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


# ---- keyset pagination: every connection pages through these ----------------------------

@dataclass(frozen=True)
class SortField:
    name: str
    descending: bool = False
    parse: Callable[[str], Any] = str  # the value from its text in a cursor


@dataclass(frozen=True)
class Keyset:
    """A list's order (its last field unique) and how a cursor names a place in it: the sort
    values themselves, joined by "|" — codes, ISO dates and ids never hold one — so a page
    continues exactly where the last ended, whatever was inserted or deleted meanwhile."""
    fields: tuple[SortField, ...]

    def key_of(self, doc: Mapping[str, Any]) -> str:
        return "|".join(str(doc[f.name]) for f in self.fields)

    def place(self, key: str | None, argument: str) -> tuple[Any, ...] | None:
        if key is None:
            return None
        parts = key.split("|")
        try:
            if len(parts) != len(self.fields):
                raise ValueError(key)
            return tuple(f.parse(part) for f, part in zip(self.fields, parts, strict=True))
        except (ValueError, TypeError, InvalidId):
            raise InvalidArgument(argument, "is not a cursor of this list") from None

    def sort(self, *, backward: bool = False) -> list[tuple[str, int]]:
        return [(f.name, (-1 if f.descending else 1) * (-1 if backward else 1))
                for f in self.fields]

    def _comparisons(self, place: Sequence[Any], later: bool,
                     inclusive: bool) -> list[list[tuple[str, str, Any]]]:
        """Alternatives (any one holds) of conditions (all hold): items strictly later (or
        earlier) than `place`, or also at it when `inclusive`."""
        alternatives = []
        for index, field in enumerate(self.fields):
            upward = later != field.descending
            operator = "$gt" if upward else "$lt"
            if inclusive and index == len(self.fields) - 1:
                operator += "e"
            alternatives.append(
                [(f.name, "$eq", v) for f, v in zip(self.fields[:index], place, strict=False)]
                + [(field.name, operator, place[index])])
        return alternatives

    def beyond(self, place: Sequence[Any], *, later: bool,
               inclusive: bool = False) -> dict[str, Any]:
        """A find() filter: items after `place` in this order (before it, `later=False`).
        Equalities are written plainly and a single alternative without `$or`, as the
        embedded server plans those on the index."""
        alternatives = [{name: value if op == "$eq" else {op: value}
                         for name, op, value in conditions}
                        for conditions in self._comparisons(place, later, inclusive)]
        return alternatives[0] if len(alternatives) == 1 else {"$or": alternatives}

    def beyond_expr(self, place: Sequence[Any], *, later: bool,
                    inclusive: bool = False) -> dict[str, Any]:
        """The same as an aggregation expression (for $addFields, $cond)."""
        return {"$or": [{"$and": [{op: [f"${name}", value]} for name, op, value in conditions]}
                        for conditions in self._comparisons(place, later, inclusive)]}


def _and(*filters: Mapping[str, Any] | None) -> dict[str, Any]:
    given = [dict(f) for f in filters if f]
    return {} if not given else given[0] if len(given) == 1 else {"$and": given}


async def find_page(collection: AsyncCollection[dict[str, Any]], query: Mapping[str, Any],
                    keyset: Keyset, request: PageRequest, *, kind: str,
                    convert: Callable[[dict[str, Any]], T],
                    after: Sequence[Any] | None = None,
                    before: Sequence[Any] | None = None) -> Page[T]:
    """One page of `query` in `keyset` order, both ways (service/pagination.py): a count, one
    find of `size + 1` from the end the page starts at, and for each cursor given one probe
    for items beyond it (so hasPreviousPage/hasNextPage say what is really there).
    `after`/`before`: the places of the cursors, when the caller resolved them itself."""
    if after is None:
        after = keyset.place(request.after, "after")
    if before is None:
        before = keyset.place(request.before, "before")

    async def total() -> int:  # only if the client asks for totalCount
        return await collection.count_documents(dict(query))
    window = _and(query, None if after is None else keyset.beyond(after, later=True),
                  None if before is None else keyset.beyond(before, later=False))
    docs = await collection.find(window).sort(keyset.sort(backward=request.backward)) \
        .limit(request.size + 1).to_list()
    more_before = after is not None and await collection.find_one(
        _and(query, keyset.beyond(after, later=False, inclusive=True)), {"_id": 1}) is not None
    more_after = before is not None and await collection.find_one(
        _and(query, keyset.beyond(before, later=True, inclusive=True)), {"_id": 1}) is not None
    return page_of([convert(d) for d in docs], [keyset.key_of(d) for d in docs], kind=kind,
                   request=request, total=total, more_before=more_before, more_after=more_after)


def grouped_page_stages(keyset: Keyset, request: PageRequest, *, group_by: str,
                        after: Sequence[Any] | None,
                        before: Sequence[Any] | None) -> list[dict[str, Any]]:
    """Aggregation stages that page many lists at once, one per value of `group_by`: per
    group the count, whether items lie beyond each cursor, and the `size + 1` items of the
    window nearest the end the page starts at ($topN: bounded memory). Feed each row to
    `grouped_page`."""
    order = dict(keyset.sort(backward=request.backward))
    if after is None and before is None:
        # the first (or last) page of each list: no cursor to place items against, so no
        # per-document flags (the embedded server evaluates each stage in Python: 2-3×)
        return [{"$group": {"_id": group_by, "total": {"$sum": 1},
                            "docs": {"$topN": {"n": request.size + 1, "sortBy": order,
                                               "output": "$$ROOT"}}}}]
    up_to_after: Any = {"$literal": False} if after is None else \
        keyset.beyond_expr(after, later=False, inclusive=True)
    from_before: Any = {"$literal": False} if before is None else \
        keyset.beyond_expr(before, later=True, inclusive=True)
    return [
        {"$addFields": {"_pageAtAfter": up_to_after, "_pageAtBefore": from_before}},
        {"$addFields": {"_pageIn": {"$not": [{"$or": ["$_pageAtAfter", "$_pageAtBefore"]}]}}},
        {"$group": {
            "_id": group_by,
            "total": {"$sum": 1},
            "moreBefore": {"$sum": {"$cond": ["$_pageAtAfter", 1, 0]}},
            "moreAfter": {"$sum": {"$cond": ["$_pageAtBefore", 1, 0]}},
            "docs": {"$topN": {"n": request.size + 1, "sortBy": {"_pageIn": -1, **order},
                               "output": {"$cond": ["$_pageIn", "$$ROOT", None]}}},
        }},
    ]


def grouped_page(row: Mapping[str, Any], keyset: Keyset, request: PageRequest, *, kind: str,
                 convert: Callable[[dict[str, Any]], T]) -> Page[T]:
    docs = [d for d in row["docs"] if d is not None]
    return page_of([convert(d) for d in docs], [keyset.key_of(d) for d in docs], kind=kind,
                   request=request, total=row["total"],
                   more_before=row.get("moreBefore", 0) > 0,
                   more_after=row.get("moreAfter", 0) > 0)
