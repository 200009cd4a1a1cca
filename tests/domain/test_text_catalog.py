"""Every piece of people's text ships in both languages (SPEC §6).

The code is read, not run: every `Text("…")` template in domain/, service/, resolvers/ and
schema/ must have a zh-CN entry with the same {placeholders}, be called with exactly those
values, and every message handed to a userError, a trace step or an alert must be a `Text`
(never a bare string or f-string, which could not be translated).
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from domain.text import placeholders
from domain.text_zh import ZH_CN

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "service", "resolvers", "schema")
# The codec that rebuilds stored texts is the one place a template is not a literal.
DYNAMIC_TEMPLATES_ALLOWED = {"service/repositories/texts.py"}
CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Found:
    where: str
    node: ast.Call


def _sources() -> Iterator[tuple[str, ast.Module]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield str(path.relative_to(ROOT)), ast.parse(path.read_text(encoding="utf-8"))


SOURCES = list(_sources())  # parsed once for every check below


def _calls(name: str) -> list[Found]:
    found = []
    for where, tree in SOURCES:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else \
                func.attr if isinstance(func, ast.Attribute) else None
            if called == name:
                found.append(Found(f"{where}:{node.lineno}", node))
    return found


def _templates() -> dict[str, list[Found]]:
    templates: dict[str, list[Found]] = {}
    for call in _calls("Text"):
        first = call.node.args[0] if call.node.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            templates.setdefault(first.value, []).append(call)
    return templates


TEMPLATES = _templates()


def test_the_scan_finds_the_texts_of_every_layer() -> None:
    places = {found.where.split("/")[0] for calls in TEMPLATES.values() for found in calls}
    assert {"domain", "service"} <= places
    assert len(TEMPLATES) > 150


def test_every_template_is_a_literal_so_it_can_be_checked() -> None:
    dynamic = [c.where for c in _calls("Text")
               if not (c.node.args and isinstance(c.node.args[0], ast.Constant))
               and c.where.split(":")[0] not in DYNAMIC_TEMPLATES_ALLOWED]
    assert dynamic == []


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_has_a_chinese_translation_with_the_same_values(template: str) -> None:
    assert template in ZH_CN, f"no zh-CN for {template!r} ({TEMPLATES[template][0].where})"
    chinese = ZH_CN[template]
    assert placeholders(chinese) == placeholders(template)
    if re.search(r"[A-Za-z]{2,}", re.sub(r"\{\w+\}", "", template)):
        assert CJK.search(chinese), f"{template!r} is left in English: {chinese!r}"


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_template_is_given_exactly_its_values(template: str) -> None:
    wanted = placeholders(template)
    for call in TEMPLATES[template]:
        given = {k.arg for k in call.node.keywords}
        if None in given:  # **values: at least the named ones must be wanted
            assert given - {None} <= wanted, call.where
        else:
            assert given == wanted, call.where


def test_the_catalog_holds_nothing_stale() -> None:
    assert sorted(set(ZH_CN) - set(TEMPLATES)) == []


def _is_plain_text(node: ast.expr) -> bool:
    """A string the catalog could never translate: a literal, an f-string, str(x)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return True
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and (_is_plain_text(node.left) or _is_plain_text(node.right)):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
        and node.func.id == "str"


# call → the positional index (and keyword) of its people's text
MESSAGE_ARGUMENTS = {"Problem": (1, "message"), "NotFound": (1, "message"),
                     "Conflict": (1, "message"), "RowError": (2, "message"),
                     "CalculationStep": (0, "label"), "on_hold_step": (0, "reason"),
                     "InvalidValue": (0, "text"), "AlertDraft": (3, "message"),
                     "Adjustment": (1, "cause"), "Deduction": (0, "reason")}


def _message_nodes() -> Iterator[tuple[str, ast.expr]]:
    for name, (index, keyword) in MESSAGE_ARGUMENTS.items():
        for call in _calls(name):
            args = call.node.args
            if len(args) > index:
                yield call.where, args[index]
            if name == "CalculationStep" and len(args) > 1:
                yield call.where, args[1]
            for item in call.node.keywords:
                if item.arg in (keyword, "formula"):
                    yield call.where, item.value
    for call in _calls("add"):  # problems.add(path, message, code)
        receiver = call.node.func
        if isinstance(receiver, ast.Attribute) and isinstance(receiver.value, ast.Name) \
                and "problems" in receiver.value.id and len(call.node.args) > 1:
            yield call.where, call.node.args[1]
    for call in _calls("add_adjustment"):
        for item in call.node.keywords:
            if item.arg == "cause":
                yield call.where, item.value


MESSAGES = list(_message_nodes())


def test_every_message_for_people_is_a_text_never_a_bare_string() -> None:
    plain = [where for where, node in MESSAGES if _is_plain_text(node)]
    assert plain == []


def test_the_message_scan_sees_the_validators_and_the_trace() -> None:
    places = {where.split(":")[0] for where, _ in MESSAGES}
    assert {"domain/programs.py", "domain/calculation.py", "domain/net.py",
            "service/usecases/closing.py"} <= places
