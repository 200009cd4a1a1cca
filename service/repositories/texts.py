"""People's text in documents: a `Text` is stored as its template and values, so it can be
rendered later in whichever language the reader asks for.

A stored text is `{"t": template, "p": {name: value}}`; values are strings and integers as
they are, and tagged sub-documents for the rest (`{"dec": "…"}`, `{"date": …}`,
`{"money": "…", "currency": …}`, `{"from": …, "to": …}`, `{"list": […], "sep": …}`, a nested
text). Decimals are kept as strings: an exact intermediate figure may have more digits than
Decimal128 holds, and a text is shown, never summed. A document written before texts were
structured holds only English: it reads back verbatim.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from domain.calculation import CalculationStep
from domain.text import Listing, Money, Param, Text, Window


def text_doc(text: Text) -> dict[str, Any]:
    if text.verbatim_text:
        return {"v": text.template}
    return {"t": text.template, "p": {name: _value_doc(value) for name, value in
                                      text.params.items()}}


def _value_doc(value: Param) -> Any:
    if isinstance(value, Text):
        return text_doc(value)
    if isinstance(value, Money):
        return {"money": str(value.amount), "currency": value.currency}
    if isinstance(value, Window):
        return {"from": value.start.isoformat(), "to": value.end.isoformat()}
    if isinstance(value, Listing):
        return {"list": [_value_doc(item) for item in value.items], "sep": value.separator}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"dec": str(value)}
    if isinstance(value, bool):
        return str(value)
    return value  # str, int


def text_of(doc: Any, fallback: str = "") -> Text:
    """The stored text, or the English `fallback` as it is when none was stored."""
    if not isinstance(doc, dict):
        return Text.verbatim(fallback)
    if "v" in doc:
        return Text.verbatim(str(doc["v"]))
    params = doc.get("p") or {}
    return Text(str(doc.get("t", fallback)), **{str(name): _value_of(value)
                                                for name, value in params.items()})


def _value_of(doc: Any) -> Param:
    if isinstance(doc, dict):
        if "t" in doc or "v" in doc:
            return text_of(doc)
        if "money" in doc:
            return Money(Decimal(str(doc["money"])), str(doc.get("currency") or ""))
        if "dec" in doc:
            return Decimal(str(doc["dec"]))
        if "from" in doc:
            return Window(dt.date.fromisoformat(doc["from"]), dt.date.fromisoformat(doc["to"]))
        if "list" in doc:
            return Listing(tuple(_value_of(item) for item in doc["list"]),
                           str(doc.get("sep", ", ")))
        if "date" in doc:
            return dt.date.fromisoformat(doc["date"])
        return str(doc)
    if isinstance(doc, str | int | Decimal):
        return doc
    return str(doc)


def step_doc(step: CalculationStep) -> dict[str, Any]:
    """English label and formula stay readable in the document (and for old readers)."""
    return {"label": str(step.label), "formula": str(step.formula), "amount": step.amount,
            "labelText": text_doc(step.label), "formulaText": text_doc(step.formula)}


def step_of(doc: dict[str, Any]) -> CalculationStep:
    return CalculationStep(text_of(doc.get("labelText"), doc.get("label", "")),
                           text_of(doc.get("formulaText"), doc.get("formula", "")),
                           doc.get("amount"))


def trace_doc(steps: Iterable[CalculationStep]) -> str:
    """A calculation trace as one compact JSON string: `[[label, formula, amount], …]`, the
    texts structured, amounts as decimal strings. One string instead of a few hundred
    nested fields is what makes an accrual cheap for the database to write and to read
    (it decodes every field of every document it touches); a reader renders the texts in
    its own language (docs/accrual documents, README)."""
    return json.dumps([[text_doc(s.label), text_doc(s.formula),
                        None if s.amount is None else str(s.amount)] for s in steps],
                      ensure_ascii=False, separators=(",", ":"))


def trace_of(stored: Any) -> tuple[CalculationStep, ...]:
    """The trace `trace_doc` wrote, or the array of step documents written before it."""
    if isinstance(stored, str):
        return tuple(CalculationStep(text_of(label), text_of(formula),
                                     None if amount is None else Decimal(amount))
                     for label, formula, amount in json.loads(stored))
    return tuple(step_of(step) for step in stored or ())
