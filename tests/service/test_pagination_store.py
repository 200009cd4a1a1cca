"""Keyset pagination against a real list in the database: forward with first/after and
backward with last/before, every page size, one list at a time (find) and many at once
(aggregation), ascending and descending orders, with ties on the leading sort fields."""
from __future__ import annotations

from functools import cmp_to_key
from typing import Any

import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st

from service.deps import Deps
from service.errors import InvalidArgument
from service.pagination import Page, PageRequest, count_of, encode_cursor, page_request
from service.repositories.query import (
    Keyset,
    SortField,
    find_page,
    grouped_page,
    grouped_page_stages,
)

KIND = "item"
COUNT = 31
KEYSETS = {
    "period, dealer, id": Keyset((SortField("period"), SortField("dealer"),
                                  SortField("_id", parse=ObjectId))),
    "newest first": Keyset((SortField("_id", descending=True, parse=ObjectId),)),
    "period down, id up": Keyset((SortField("period", descending=True),
                                  SortField("_id", parse=ObjectId))),
}
GROUPS = ("X", "Y")


@pytest.fixture(scope="module", autouse=True)
async def items(deps: Deps) -> None:
    """Ties everywhere: 4 periods × 5 dealers for 31 items, in an order unlike any keyset."""
    collection = deps.db.db["paging_items"]
    await collection.delete_many({})
    await collection.insert_many([
        {"_id": ObjectId(), "period": f"2026-0{(n * 7) % 4 + 1}", "dealer": f"D{(n * 3) % 5}",
         "group": GROUPS[n % 2], "n": n} for n in range(COUNT)])


def _compare(keyset: Keyset, a: dict[str, Any], b: dict[str, Any]) -> int:
    for field in keyset.fields:
        x, y = a[field.name], b[field.name]
        if x != y:
            return (1 if x > y else -1) * (-1 if field.descending else 1)
    return 0


async def _expected(deps: Deps, keyset: Keyset, group: str | None = None) -> list[int]:
    docs = await deps.db.db["paging_items"].find({} if group is None else
                                                 {"group": group}).to_list()
    docs.sort(key=cmp_to_key(lambda a, b: _compare(keyset, a, b)))
    return [d["n"] for d in docs]


async def _page(deps: Deps, keyset: Keyset, request: PageRequest,
                group: str | None = None) -> Page[int]:
    collection = deps.db.db["paging_items"]
    if group is None:
        return await find_page(collection, {}, keyset, request, kind=KIND,
                               convert=lambda d: d["n"])
    cursor = await collection.aggregate([
        {"$match": {"group": {"$in": list(GROUPS)}}},
        *grouped_page_stages(keyset, request, group_by="$group",
                             after=keyset.place(request.after, "after"),
                             before=keyset.place(request.before, "before"))])
    rows = {row["_id"]: row async for row in cursor}
    return grouped_page(rows[group], keyset, request, kind=KIND, convert=lambda d: d["n"])


async def _walk(deps: Deps, keyset: Keyset, size: int, *, backward: bool,
                group: str | None) -> list[int]:
    """Every page from one end to the other; checks each page's flags on the way."""
    seen: list[int] = []
    cursor: str | None = None
    for number in range(COUNT + 2):
        request = page_request(KIND, last=size, before=cursor) if backward \
            else page_request(KIND, first=size, after=cursor)
        page = await _page(deps, keyset, request, group)
        assert len(page.items) <= size
        seen = page.items + seen if backward else seen + page.items
        further = page.has_previous if backward else page.has_next
        behind = page.has_next if backward else page.has_previous
        assert behind is (number > 0), (number, page)
        if not further:
            return seen
        assert page.items, "a page that says there is more has items"
        cursor = page.cursors[0] if backward else page.cursors[-1]
    raise AssertionError("the walk did not end")


@pytest.mark.parametrize("name", sorted(KEYSETS))
@pytest.mark.parametrize("group", [None, "X"])
@settings(max_examples=8, deadline=None)
@given(size=st.integers(min_value=1, max_value=COUNT + 2))
async def test_walking_forward_and_backward_visits_every_item_once_in_the_same_order(
        deps: Deps, name: str, group: str | None, size: int) -> None:
    keyset = KEYSETS[name]
    expected = await _expected(deps, keyset, group)
    assert await _walk(deps, keyset, size, backward=False, group=group) == expected
    assert await _walk(deps, keyset, size, backward=True, group=group) == expected


@pytest.mark.parametrize("name", sorted(KEYSETS))
@pytest.mark.parametrize("group", [None, "Y"])
@settings(max_examples=12, deadline=None)
@given(data=st.data())
async def test_a_window_between_two_cursors_pages_like_the_slice_between_them(
        deps: Deps, name: str, group: str | None, data: st.DataObject) -> None:
    keyset = KEYSETS[name]
    expected = await _expected(deps, keyset, group)
    everything = await _page(deps, keyset, page_request(KIND, first=100), group)
    assert everything.items == expected and not everything.has_next
    low = data.draw(st.integers(-1, len(expected) - 1), label="after index (-1: none)")
    high = data.draw(st.integers(low + 1, len(expected)), label="before index (len: none)")
    size = data.draw(st.integers(0, len(expected) + 1), label="size")
    backward = data.draw(st.booleans(), label="backward")
    after = everything.cursors[low] if low >= 0 else None
    before = everything.cursors[high] if high < len(expected) else None
    request = page_request(KIND, after=after, before=before,
                           **({"last": size} if backward else {"first": size}))
    page = await _page(deps, keyset, request, group)
    window = expected[low + 1:high]
    skipped = max(len(window) - size, 0) if backward else 0  # the window's items left out
    wanted = window[skipped:skipped + size]
    assert page.items == wanted
    start = low + 1 + skipped  # the page's first item in the whole list
    assert page.cursors == everything.cursors[start:start + len(wanted)]
    assert page.has_previous is (start > 0)
    assert page.has_next is (start + len(wanted) < len(expected))
    assert await count_of(page.total) == len(expected)


@pytest.mark.parametrize(("arguments", "argument"), [
    ({"first": 2, "last": 2}, "last"),
    ({"last": 101}, "last"),
    ({"last": -1}, "last"),
    ({"first": 101}, "first"),
    ({"before": "not-a-cursor!"}, "before"),
    ({"after": "bm90LWEtY3Vyc29y"}, "after"),
])
def test_bad_page_arguments_are_refused_naming_the_argument(arguments: dict[str, Any],
                                                            argument: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_request(KIND, **arguments)
    assert refused.value.argument == argument


@pytest.mark.parametrize("key", ["2026-01|D1", "2026-01|D1|nope", "a|b|c|d"])
def test_a_cursor_key_that_is_not_a_place_in_the_order_is_refused(key: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        KEYSETS["period, dealer, id"].place(key, "before")
    assert refused.value.argument == "before"


@pytest.mark.parametrize(("arguments", "expected"), [
    ({}, PageRequest(size=20)),
    ({"last": 5}, PageRequest(size=5, backward=True)),
    ({"first": 0}, PageRequest(size=0)),
])
def test_page_requests_default_to_twenty_forward(arguments: dict[str, Any],
                                                 expected: PageRequest) -> None:
    assert page_request(KIND, **arguments) == expected


def test_only_before_pages_backward_from_it() -> None:
    cursor = encode_cursor(KIND, "x")
    assert page_request(KIND, before=cursor) == PageRequest(size=20, backward=True, before="x")
    assert page_request(KIND, before=cursor, after=cursor).backward is False

