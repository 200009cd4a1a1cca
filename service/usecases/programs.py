"""Program use cases: create, edit (versioned once ACTIVE), activate, retire."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from domain.codes import clean_code, clean_name
from domain.errors import Conflict, NotFound, Problems
from domain.programs import ProgramRules, ProgramStatus, check_edit, validate_program
from domain.text import Text
from service.access import Forbidden
from service.auth import Principal, Role
from service.deps import Deps
from service.repositories import audit, pending
from service.repositories import programs as program_repo
from service.repositories import scorecards as scorecard_repo
from service.repositories.programs import StoredProgram
from service.repositories.segments import all_segments
from service.usecases import accrual_jobs

# SPEC §5: SALES prepares programs as drafts; putting money on the table is ADMIN/FINANCE.
MAY_ACTIVATE = frozenset({Role.ADMIN, Role.FINANCE})


async def _known(deps: Deps) -> tuple[set[str], set[str]]:
    segments = {s.code for s in await all_segments(deps.db)}
    templates = {t.code for t in await scorecard_repo.all_templates(deps.db)}
    return segments, templates


def _cleaned(rules: ProgramRules) -> ProgramRules:
    scratch = Problems()  # validate_program reports; here we only normalise
    return replace(rules, code=clean_code(rules.code, ("code",), scratch),
                   name=clean_name(rules.name, ("name",), scratch))


async def _replace(deps: Deps, actor: Principal, current: StoredProgram, rules: ProgramRules,
                   status: ProgramStatus, event: dict[str, Any]) -> dict[str, Any]:
    """Write the program's new state unless someone changed it since we read it, then
    what follows from it."""
    now = deps.now()
    doc = await program_repo.replace_current(deps.db, current, rules, status, now=now,
                                             pending=pending.marker(now, actor, audit=event))
    if doc is None:
        raise Conflict(("input", "code"),
                       Text("the program changed meanwhile; reload and retry"))
    await complete(deps, doc)
    return doc


async def complete(deps: Deps, doc: dict[str, Any]) -> None:
    """What follows writing a program: its version record, its audit event, and (ACTIVE)
    the marks that compute its accruals; each idempotent, the marker cleared last."""
    mark = doc.get(pending.FIELD)
    if mark is None:
        return
    await program_repo.record_version(deps.db, doc)
    if mark.get("audit"):
        await audit.write(deps.db, mark["audit"])
    program = program_repo.from_doc(doc)
    if program.status is ProgramStatus.ACTIVE:
        await accrual_jobs.mark_program(deps, program.rules)
    await program_repo.clear_pending(deps.db, doc["code"], mark)


def _event(actor: Principal, action: str, code: str, before: Any, after: Any,
           deps: Deps) -> dict[str, Any]:
    return audit.event(actor=actor, action=action, entity_type="Program", entity_id=code,
                       before=before, after=after, now=deps.now())


def _check_activation(actor: Principal, activate: bool) -> None:
    if activate and actor.role not in MAY_ACTIVATE:
        raise Forbidden(f"role {actor.role.value} may create and edit programs only as DRAFT")


async def create_program(deps: Deps, actor: Principal, rules: ProgramRules, *,
                         activate: bool = False) -> StoredProgram:
    _check_activation(actor, activate)
    segments, templates = await _known(deps)
    validate_program(rules, segments, templates)
    rules = replace(_cleaned(rules), version=1)
    if await program_repo.get(deps.db, rules.code) is not None:
        raise Conflict(("input", "code"),
                       Text("program {code} already exists", code=repr(rules.code)))
    status = ProgramStatus.ACTIVE if activate else ProgramStatus.DRAFT
    now = deps.now()
    event = _event(actor, "createProgram", rules.code, None,
                   {**program_repo.to_doc(rules, status), "createdAt": now}, deps)
    doc = await program_repo.insert(deps.db, rules, status, now=now,
                                    pending=pending.marker(now, actor, audit=event))
    await complete(deps, doc)
    return StoredProgram(rules=rules, status=status)


async def update_program(deps: Deps, actor: Principal, rules: ProgramRules, *,
                         activate: bool = False) -> StoredProgram:
    """Edit by code. `activate` turns a DRAFT ACTIVE; omitted keeps the status."""
    _check_activation(actor, activate)
    segments, templates = await _known(deps)
    validate_program(rules, segments, templates)
    rules = _cleaned(rules)
    current = await program_repo.get(deps.db, rules.code)
    if current is None:
        raise NotFound(("input", "code"),
                       Text("no program with code {code}", code=repr(rules.code)))
    if current.status is not ProgramStatus.DRAFT and actor.role not in MAY_ACTIVATE:
        raise Forbidden(f"role {actor.role.value} may edit only DRAFT programs")
    version = check_edit(current.rules, current.status, rules)
    status = ProgramStatus.ACTIVE if activate else current.status
    edited = replace(rules, version=version)
    await _replace(deps, actor, current, edited, status, _event(
        actor, "updateProgram", rules.code,
        program_repo.to_doc(current.rules, current.status),
        program_repo.to_doc(edited, status), deps))
    return StoredProgram(rules=edited, status=status)


async def activate_program(deps: Deps, actor: Principal, code: str) -> StoredProgram:
    """Approve a DRAFT: from now on it accrues (ADMIN, FINANCE)."""
    _check_activation(actor, True)
    current = await program_repo.get(deps.db, code.strip())
    if current is None:
        raise NotFound(("input", "code"), Text("no program with code {code}", code=repr(code)))
    if current.status is not ProgramStatus.DRAFT:
        problems = Problems()
        problems.add(("input", "code"), Text("program {code} is {status}, not DRAFT",
                                             code=current.code, status=current.status.value),
                     "LOCKED")
        problems.raise_if_any()
    segments, templates = await _known(deps)
    validate_program(current.rules, segments, templates)  # a segment may have gone since
    await _replace(deps, actor, current, current.rules, ProgramStatus.ACTIVE, _event(
        actor, "activateProgram", current.code, {"status": current.status.value},
        {"status": "ACTIVE", "version": current.rules.version}, deps))
    return replace(current, status=ProgramStatus.ACTIVE)


async def retire_program(deps: Deps, actor: Principal, code: str) -> StoredProgram:
    current = await program_repo.get(deps.db, code.strip())
    if current is None:
        raise NotFound(("input", "code"), Text("no program with code {code}", code=repr(code)))
    if current.status is ProgramStatus.RETIRED:
        return current
    await _replace(deps, actor, current, current.rules, ProgramStatus.RETIRED, _event(
        actor, "retireProgram", current.code, {"status": current.status.value},
        {"status": "RETIRED"}, deps))
    return replace(current, status=ProgramStatus.RETIRED)
