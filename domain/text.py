"""Text meant for people (SPEC §6), in English or Simplified Chinese, chosen per request.

Rules never produce finished sentences: they return a `Text` — an English template with
named values — and the API renders it in the caller's `Accept-Language`. The English
template is the source text *and* the key of the zh-CN catalog (`domain/text_zh.py`); a
test reads every `Text("…")` in the code and fails when one has no translation or their
placeholders differ, so untranslated text never ships. Values render per language too:
money carries its currency ("CNY 1,234.50" / "1,234.50 元"), lists their separators, and
an open period's window says "to date (as of …)" by the date the text is read on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from string import Formatter
from typing import Union

from domain.text_zh import ZH_CN


class Language(StrEnum):
    EN = "en"
    ZH_CN = "zh-CN"


DEFAULT_LANGUAGE = Language.EN

# RFC 9110 §12.5.4: `tag;q=0.8`, q from 0 to 1 with at most three decimals.
_RANGE = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*")
_QUALITY = re.compile(r"q=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)", re.IGNORECASE)
_HEADER_MAX = 1000  # a longer header is cut, never parsed at length
_RANGES_MAX = 30


def _language_of(tag: str) -> Language | None:
    """Every Chinese tag reads Simplified Chinese best of what we have (zh, zh-Hans, zh-SG,
    also zh-TW and zh-Hant); every English tag English; anything else: not ours."""
    primary = tag.split("-", 1)[0].casefold()
    if primary == "zh":
        return Language.ZH_CN
    if primary == "en":
        return Language.EN
    return None


def negotiate(header: str | None) -> Language:
    """The language to answer in, from an `Accept-Language` header; anything unusable → en.

    The highest q wins, the earlier range on a tie; q=0 means "not this one"; `*` and
    unknown languages leave the default. Malformed ranges are skipped, never an error.
    """
    if not header or not isinstance(header, str):
        return DEFAULT_LANGUAGE
    best: tuple[Decimal, int, Language] | None = None
    for position, item in enumerate(header[:_HEADER_MAX].split(",")[:_RANGES_MAX]):
        tag, *parameters = (part.strip() for part in item.split(";"))
        if not _RANGE.fullmatch(tag):
            continue
        quality = Decimal(1)
        for parameter in parameters:
            found = _QUALITY.fullmatch(parameter.replace(" ", ""))
            if found is None:
                quality = Decimal(-1)  # a malformed weight: skip the range
                break
            quality = Decimal(found.group(1))
        language = _language_of(tag) if tag != "*" else None
        if language is None or quality <= 0:
            continue
        if best is None or quality > best[0]:
            best = (quality, position, language)
    return best[2] if best is not None else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Locale:
    """How to render: the language, and the reader's today (None: no "to date" wording)."""

    language: Language = DEFAULT_LANGUAGE
    today: date | None = None


ENGLISH = Locale()
_WIDE = Context(prec=100)  # formatting never rounds a digit it was not asked to

# zh-CN names the currency after the figure; one without a common Chinese name keeps its code.
_ZH_CURRENCY = {"CNY": "元", "USD": "美元", "EUR": "欧元", "HKD": "港元", "JPY": "日元",
                "GBP": "英镑", "TWD": "新台币", "MOP": "澳门元", "SGD": "新加坡元",
                "KRW": "韩元", "AUD": "澳元", "CAD": "加元", "CHF": "瑞士法郎"}


def format_number(value: Decimal, places: int | None = 2) -> str:
    """Thousands separators; `places=None` shows the exact value (at least 2 decimals, more
    only when it has them); an int rounds half up *for display only* to that many places."""
    with localcontext(_WIDE):
        if places is None:
            reduced = value.normalize() if value else Decimal(0)
            exponent = reduced.as_tuple().exponent
            if isinstance(exponent, int) and exponent < -2:
                return f"{reduced + 0:,f}"
            places = 2
        shown = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        return f"{shown + 0:,f}"


def format_money(amount: Decimal, currency: str, language: Language,
                 places: int | None = 2) -> str:
    """en `CNY 12,345.67`, zh-CN `12,345.67 元` (a currency without a Chinese name: its
    ISO code after the figure). Decimal in, never float; negatives keep a leading `-`."""
    figure = format_number(amount, places)
    if not currency:
        return figure
    if language is Language.ZH_CN:
        return f"{figure} {_ZH_CURRENCY.get(currency, currency)}"
    return f"{currency} {figure}"


@dataclass(frozen=True)
class Money:
    """An amount with its currency; shown exact (rounded figures are rounded already)."""

    amount: Decimal
    currency: str

    def render(self, locale: Locale) -> str:
        return format_money(self.amount, self.currency, locale.language, None)


@dataclass(frozen=True)
class Window:
    """A date range of a basis: "from A to B", or "from A to date (as of T)" while open."""

    start: date
    end: date

    def render(self, locale: Locale) -> str:
        today = locale.today
        if today is not None and self.start <= today < self.end:
            return Text("from {start} to date (as of {today})",
                        start=self.start, today=today).render(locale)
        return Text("from {start} to {end}", start=self.start, end=self.end).render(locale)


_SEPARATORS_ZH = {", ": "、", "; ": "；", " ": ""}  # " " joins sentences: none in Chinese


@dataclass(frozen=True)
class Listing:
    """Values joined: in Chinese `", "` becomes `、`, `"; "` `；` and `" "` (between
    sentences) nothing; other separators (`" + "`) stay as given."""

    items: tuple[Param, ...]
    separator: str = ", "

    def render(self, locale: Locale) -> str:
        separator = self.separator
        if locale.language is Language.ZH_CN:
            separator = _SEPARATORS_ZH.get(separator, separator)
        return separator.join(render_value(item, locale) for item in self.items)


Param = Union[str, int, Decimal, date, "Text", Money, Window, Listing]


class Text:
    """An English template with {named} values, rendered per language.

    `Text.verbatim(s)` wraps text that has no template (stored before texts were structured,
    or data): it is looked up whole in the catalog and otherwise shown as it is.
    """

    __slots__ = ("params", "template", "verbatim_text")

    def __init__(self, template: str, /, **params: Param) -> None:
        self.template = template
        self.params: Mapping[str, Param] = params
        self.verbatim_text = False

    @classmethod
    def verbatim(cls, text: str) -> Text:
        made = cls(text)
        made.verbatim_text = True
        return made

    def render(self, locale: Locale = ENGLISH) -> str:
        if locale.language is Language.ZH_CN:
            template = ZH_CN.get(self.template, self.template)
        else:
            template = self.template
        if self.verbatim_text:
            return template
        values = {name: render_value(value, locale) for name, value in self.params.items()}
        try:
            return template.format_map(values)
        except (KeyError, IndexError, ValueError):  # a stored text outliving its template
            return self.template.format_map(_Lenient(values))

    def __str__(self) -> str:
        return self.render(ENGLISH)

    def __repr__(self) -> str:
        return f"Text({self.template!r}, {dict(self.params)!r})"

    def __eq__(self, other: object) -> bool:
        """Equal to the same template and values, and to a string that is its English text
        (so code and tests that knew messages as English strings keep working)."""
        if isinstance(other, str):
            return str(self) == other
        if not isinstance(other, Text):
            return NotImplemented
        return (self.template, dict(self.params), self.verbatim_text) == \
            (other.template, dict(other.params), other.verbatim_text)

    def __hash__(self) -> int:
        return hash(str(self))  # equal texts, and a text and its English string, hash alike

    def __contains__(self, part: str) -> bool:
        return part in str(self)


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_value(value: Param, locale: Locale) -> str:
    if isinstance(value, Text | Money | Window | Listing):
        return value.render(locale)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def render(text: Text, locale: Locale = ENGLISH) -> str:
    return text.render(locale)


def as_text(message: Text | str) -> Text:
    """A message given as plain text (old code, stored data) still renders; see `verbatim`."""
    return message if isinstance(message, Text) else Text.verbatim(message)


def placeholders(template: str) -> set[str]:
    """The {names} a template uses (raises ValueError when it is not a valid template)."""
    return {name for _, name, _, _ in Formatter().parse(template) if name is not None}


def joined(items: Sequence[Param], separator: str = ", ") -> Listing:
    return Listing(tuple(items), separator)
