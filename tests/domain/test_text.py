"""People's text in two languages: negotiation, money with its currency, trace steps."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.accrual import EarlierGross, accrue
from domain.calculation import basis_step, foreign_currency_step, late_data_step, terms_step
from domain.errors import InvalidValue, Problems, message_of
from domain.periods import DateRange, PeriodKind, parse_period
from domain.programs import Accumulation, Terms
from domain.text import (
    Language,
    Locale,
    Money,
    Text,
    format_money,
    format_number,
    joined,
    negotiate,
)
from domain.tiers import RateKind, RebateBasis
from tests.domain.test_accrual import COLLECT, DEFAULT_TERMS

D = Decimal
EN, ZH = Language.EN, Language.ZH_CN
NOV_20 = date(2026, 11, 20)


@pytest.mark.parametrize(("header", "expected"), [
    ("zh-CN,zh;q=0.9,en;q=0.8", ZH),
    ("zh", ZH),
    ("zh-Hans", ZH),
    ("zh-SG", ZH),
    ("zh-hans-cn", ZH),
    ("ZH-CN", ZH),
    ("zh-TW", ZH),  # Simplified reads better than English to a Traditional reader
    ("en", EN),
    ("en-GB,zh;q=0.5", EN),
    ("fr", EN),
    ("fr-FR,fr;q=0.9", EN),
    ("fr, zh;q=0.1", ZH),  # anything of ours beats nothing of ours
    ("en;q=0.5,zh;q=0.6", ZH),
    ("zh;q=0.6,en;q=0.6", ZH),  # a tie: the earlier one
    ("en;q=0.6,zh;q=0.6", EN),
    ("zh;q=0", EN),
    ("zh;q=0.000", EN),
    ("zh;q=1.000", ZH),
    ("zh;q=1.5", EN),  # out of range: not a usable weight
    ("zh;q=abc", EN),
    ("zh;level=1", EN),
    ("*", EN),
    ("*;q=1, zh;q=0.2", ZH),
    ("", EN),
    (None, EN),
    (",,,;;;", EN),
    ("zh-", EN),
    ("中文", EN),
    ("x" * 2000 + ",zh", EN),  # only the first 1,000 characters are read
])
def test_accept_language_is_negotiated_by_quality_and_never_fails(
        header: str | None, expected: Language) -> None:
    assert negotiate(header) is expected


@pytest.mark.parametrize(("amount", "currency", "en", "zh"), [
    ("12345.67", "CNY", "CNY 12,345.67", "12,345.67 元"),
    ("0", "CNY", "CNY 0.00", "0.00 元"),
    ("-1234.5", "CNY", "CNY -1,234.50", "-1,234.50 元"),
    ("-0.00", "CNY", "CNY 0.00", "0.00 元"),
    ("999999999999999.99", "CNY", "CNY 999,999,999,999,999.99", "999,999,999,999,999.99 元"),
    ("1E+6", "USD", "USD 1,000,000.00", "1,000,000.00 美元"),
    ("10.005", "EUR", "EUR 10.01", "10.01 欧元"),  # display rounds half up
    ("-10.005", "HKD", "HKD -10.01", "-10.01 港元"),
    ("10.004999", "CNY", "CNY 10.00", "10.00 元"),
    ("-0.004", "CNY", "CNY 0.00", "0.00 元"),  # never a "-0.00"
    ("7.1", "XYZ", "XYZ 7.10", "7.10 XYZ"),  # no Chinese name: the ISO code
])
def test_money_shows_its_currency_in_each_language(amount: str, currency: str, en: str,
                                                   zh: str) -> None:
    assert format_money(D(amount), currency, EN) == en
    assert format_money(D(amount), currency, ZH) == zh


@pytest.mark.parametrize(("value", "places", "shown"), [
    ("150.375", None, "150.375"),  # exact: a trace never hides a digit
    ("150.3750", None, "150.375"),
    ("150.3", None, "150.30"),
    ("1100000", None, "1,100,000.00"),
    ("150.375", 2, "150.38"),
    ("2.5", 0, "3"),
    ("-2.5", 0, "-3"),
    ("1234567.891", 1, "1,234,567.9"),
])
def test_numbers_round_only_for_display_and_only_when_asked(value: str, places: int | None,
                                                            shown: str) -> None:
    number = D(value)
    assert format_number(number, places) == shown
    assert number == D(value)  # the figure itself is untouched


def _digits(shown: str) -> Decimal:
    figure = shown.replace("CNY", "").replace("元", "").replace(",", "").strip()
    return Decimal(figure)


money_values = st.decimals(min_value=D("-1e15") + 1, max_value=D("1e15") - 1, places=6,
                           allow_nan=False, allow_infinity=False)


@given(money_values)
def test_exact_money_text_parses_back_to_the_very_same_decimal(value: Decimal) -> None:
    for language in (EN, ZH):
        assert _digits(format_money(value, "CNY", language, None)) == value


@given(money_values)
def test_rounded_money_text_parses_back_to_the_figure_rounded_half_up(value: Decimal) -> None:
    from domain.money import round_money
    for language in (EN, ZH):
        assert _digits(format_money(value, "CNY", language)) == round_money(value)


def test_a_text_is_its_english_until_rendered_in_chinese() -> None:
    text = Text("no dealer with code {code}", code="'D9'")
    assert str(text) == "no dealer with code 'D9'" == text
    assert text.render(Locale(ZH)) == "没有代码为 'D9' 的经销商"
    assert "D9" in text


def test_values_render_in_the_readers_language_too() -> None:
    listed = Text("close {periods} first", periods=joined(["2026-Q1", "2026-Q2"]))
    assert str(listed) == "close 2026-Q1, 2026-Q2 first"
    assert listed.render(Locale(ZH)) == "请先关账 2026-Q1、2026-Q2"
    nested = Text("Adjustment: {cause}", cause=Text("dispute accepted: {note}", note="缺单"))
    assert nested.render(Locale(ZH)) == "调整：申诉已接受：缺单"
    assert Text("{amount}", amount=Money(D("-5"), "CNY")).render(Locale(ZH)) == "-5.00 元"


def test_text_not_in_the_catalog_is_shown_as_it_is() -> None:
    stored = Text.verbatim("an English note from before {texts} were structured")
    assert stored.render(Locale(ZH)) == "an English note from before {texts} were structured"
    assert Text.verbatim("Net").render(Locale(ZH)) == "净额"  # known whole: translated


def test_a_value_error_of_a_rule_keeps_its_text() -> None:
    with pytest.raises(InvalidValue) as raised:
        parse_period("0000")
    text = message_of(raised.value)
    assert str(text) == "'0000' is not a valid period: year 0 is out of range 1..9999"
    assert text.render(Locale(ZH)) == "'0000' 不是有效期间：年份 0 超出范围 1..9999"
    with pytest.raises(ValueError) as refused:
        parse_period("2026-Q1", PeriodKind.MONTH)
    assert message_of(refused.value).render(Locale(ZH)) == "'2026-Q1' 是季度；应为月"
    assert str(message_of(ValueError("plain"))) == "plain"


def test_problems_render_in_both_languages() -> None:
    problems = Problems()
    problems.add(("input", "x"), Text("must not be negative"))
    problems.add(("input", "y"), "a message given as plain text")
    assert [p.message.render(Locale(ZH)) for p in problems.items] == \
        ["不能为负数", "a message given as plain text"]


OCT = DateRange(date(2026, 10, 1), date(2026, 12, 31))


@pytest.mark.parametrize(("today", "en", "zh"), [
    (NOV_20, "cash collected from 2026-10-01 to date (as of 2026-11-20): CNY 500,000.00",
     "回款额，自 2026-10-01 至今（截至 2026-11-20）：500,000.00 元"),
    (date(2026, 12, 31), "cash collected from 2026-10-01 to 2026-12-31: CNY 500,000.00",
     "回款额，自 2026-10-01 至 2026-12-31：500,000.00 元"),
    (date(2027, 1, 5), "cash collected from 2026-10-01 to 2026-12-31: CNY 500,000.00",
     "回款额，自 2026-10-01 至 2026-12-31：500,000.00 元"),
    (date(2026, 9, 30), "cash collected from 2026-10-01 to 2026-12-31: CNY 500,000.00",
     "回款额，自 2026-10-01 至 2026-12-31：500,000.00 元"),
    (None, "cash collected from 2026-10-01 to 2026-12-31: CNY 500,000.00",
     "回款额，自 2026-10-01 至 2026-12-31：500,000.00 元"),
])
def test_an_open_window_reads_to_date_as_of_the_day_it_is_read(today: date | None, en: str,
                                                               zh: str) -> None:
    step = basis_step(Text("Basis {period}", period="2026-Q4"),
                      RebateBasis.COLLECTED_AMOUNT, OCT, D("500000"), "CNY")
    assert step.formula.render(Locale(EN, today)) == en
    assert step.formula.render(Locale(ZH, today)) == zh
    assert step.label.render(Locale(ZH, today)) == "2026-Q4 基数"


@pytest.mark.parametrize(("code", "name", "en", "zh"), [
    ("GOLD", "黄金经销商", "terms for segment GOLD (黄金经销商)",
     "客户分类 GOLD（黄金经销商）的条款"),
    ("KA", None, "terms for segment KA", "客户分类 KA 的条款"),
    (None, None, "default terms", "默认条款"),
])
def test_the_trace_names_the_terms_applied(code: str | None, name: str | None, en: str,
                                           zh: str) -> None:
    step = terms_step(code, name)
    assert (str(step.label), str(step.formula)) == ("Terms", en)
    assert (step.label.render(Locale(ZH)), step.formula.render(Locale(ZH))) == ("适用条款", zh)


def test_notes_on_currency_and_late_data_read_in_chinese() -> None:
    foreign = foreign_currency_step(2, ["USD", "EUR"], "CNY", "2026-Q4")
    assert str(foreign.formula) == \
        "2 transactions of 2026-Q4 in USD, EUR: this program counts CNY only"
    assert foreign.formula.render(Locale(ZH)) == "2026-Q4 有 2 笔 USD、EUR 交易：本政策只计 CNY"
    late = late_data_step([("2026-Q1", 2), ("2026-Q2", 1)])
    assert late.formula.render(Locale(ZH)) == (
        "累计基数包含所属期间关账后才录入的交易（2026-Q1 2 笔、2026-Q2 1 笔）；由本期补差一并处理")


def test_the_spec_worked_example_reads_line_by_line_in_both_languages() -> None:
    gold = Terms("GOLD", DEFAULT_TERMS.tiers)
    q2 = accrue(COLLECT, gold, parse_period("2026-Q2"), basis=D("500000"),
                cumulative_basis=D("1100000"),
                earlier_gross=[EarlierGross("2026-Q1", D("6000.00"))], segment_name="黄金经销商")
    en = [(str(s.label), s.formula.render(Locale(EN, NOV_20))) for s in q2.calculation]
    zh = [(s.label.render(Locale(ZH, NOV_20)), s.formula.render(Locale(ZH, NOV_20)))
          for s in q2.calculation]
    assert en == [
        ("Basis 2026-Q2", "cash collected from 2026-04-01 to 2026-06-30: CNY 500,000.00"),
        ("Cumulative basis", "cash collected from 2026-01-01 to 2026-06-30: CNY 1,100,000.00"),
        ("Terms", "terms for segment GOLD (黄金经销商)"),
        ("Tier reached", "CNY 1,100,000.00 ≥ threshold CNY 1,000,000.00: rate 2%"),
        ("Rebate on cumulative basis", "CNY 1,100,000.00 × 2% = CNY 22,000.00"),
        ("Gross of earlier periods", "CNY 6,000.00 (2026-Q1)"),
        ("Gross (true-up)", "CNY 22,000.00 − CNY 6,000.00 = CNY 16,000.00"),
        ("Scorecard", "not part of this program: × 1"),
        ("Net", "CNY 16,000.00"),
    ]
    assert zh == [
        ("2026-Q2 基数", "回款额，自 2026-04-01 至 2026-06-30：500,000.00 元"),
        ("累计基数", "回款额，自 2026-01-01 至 2026-06-30：1,100,000.00 元"),
        ("适用条款", "客户分类 GOLD（黄金经销商）的条款"),
        ("达到档位", "1,100,000.00 元 ≥ 门槛 1,000,000.00 元：返利标准 2%"),
        ("按累计基数计算的返利", "1,100,000.00 元 × 2% = 22,000.00 元"),
        ("此前各期毛额", "6,000.00 元（2026-Q1）"),
        ("本期毛额（累计补差）", "22,000.00 元 − 6,000.00 元 = 16,000.00 元"),
        ("考核评分", "本政策不含考核：× 1"),
        ("净额", "16,000.00 元"),
    ]


def test_a_per_unit_trace_shows_units_and_money_per_unit() -> None:
    units = replace(COLLECT, basis=RebateBasis.QUANTITY, accumulation=Accumulation.PER_PERIOD,
                    rate_kind=RateKind.PER_UNIT, currency="USD")
    terms = Terms(None, (DEFAULT_TERMS.tiers[0],))
    q1 = accrue(units, terms, parse_period("2026-Q1"), basis=D("1200"))
    gross = next(s for s in q1.calculation if str(s.label) == "Gross rebate")
    assert str(gross.formula) == "1,200 units × USD 1.00 = USD 1,200.00"
    assert gross.formula.render(Locale(ZH)) == "1,200 件 × 1.00 美元 = 1,200.00 美元"
