"""Program types (返利政策): basis, tiers, periods, terms per segment, payout."""
from __future__ import annotations

import datetime as dt
import decimal

import strawberry

from domain import periods, programs, tiers
from schema.context import Info
from schema.errors import UserError
from schema.relay import Node, to_global_id
from schema.scorecards import ScorecardTemplate
from schema.segments import Segment

RebateBasis = tiers.RebateBasis
RateKind = tiers.RateKind
TierMode = tiers.TierMode
TierMeasure = tiers.TierMeasure
TierEvaluation = tiers.TierEvaluation
PeriodKind = periods.PeriodKind
Accumulation = programs.Accumulation
PayoutForm = programs.PayoutForm
ProgramStatus = programs.ProgramStatus
strawberry.enum(RebateBasis, description="SALES_AMOUNT: invoices − returns; QUANTITY: units "
                                         "invoiced − returned; COLLECTED_AMOUNT: payments.")
strawberry.enum(RateKind, description="PERCENT (\"2.5\" = 2.5 %), PER_UNIT money per unit "
                                      "(QUANTITY only), FIXED lump sum per tier.")
strawberry.enum(TierMode, description="RETROACTIVE: the whole basis earns the highest tier "
                                      "reached; INCREMENTAL: each slice earns its own tier; "
                                      "ON_EXCESS_OVER_TARGET (TARGET_ACHIEVEMENT only): the "
                                      "highest tier's rate on max(0, basis − target).")
strawberry.enum(TierMeasure, description="BASIS: thresholds are basis amounts; "
                                         "TARGET_ACHIEVEMENT: thresholds are percentages of "
                                         "the dealer's target for the accrual's window (a tier "
                                         "applies when basis × 100 ≥ threshold × target).")
strawberry.enum(TierEvaluation, description="PERIOD_TOTAL: R of the period's basis; "
                                            "EACH_TRANSACTION (PER_PERIOD, BASIS only; 现返): "
                                            "every counted transaction is its own basis, "
                                            "returns reverse what their amount would earn.")
strawberry.enum(PeriodKind, description="Calendar periods named 2026-03, 2026-Q1, 2026.")
strawberry.enum(Accumulation, description="PER_PERIOD, or YEAR_TO_DATE: a true-up on the "
                                          "cumulative basis every period.")
strawberry.enum(PayoutForm, description="CASH (tax withheld), CREDIT_NOTE, GOODS.")
strawberry.enum(ProgramStatus, description="DRAFT (being prepared), ACTIVE (accrues), RETIRED.")


def program_id(code: str) -> strawberry.ID:
    """Stable across versions: a CRM caching a program by id keeps it through every edit."""
    return to_global_id("Program", code)


def program_version_id(code: str, version: int) -> strawberry.ID:
    return to_global_id("Program", f"{code}:{version}")


def program_key(key: str) -> tuple[str, int | None]:
    """The code and version (None: the current one) a Program global ID's key names: the
    code alone (`id`), or code:version (`versionId`, and every id given out before ids were
    stable). Codes never hold a ':'. A version that is no number names nothing: version 0."""
    code, colon, version = key.rpartition(":")
    if not colon:
        return key, None
    return code, int(version) if version.isascii() and version.isdigit() else 0


@strawberry.type(description="A tier: applies when the basis reaches the threshold.")
class Tier:
    threshold: decimal.Decimal = strawberry.field(description="Basis from which it applies.")
    rate: decimal.Decimal = strawberry.field(description="Percent, money per unit, or sum.")


@strawberry.type(description="Terms for one segment (or the default terms).")
class ProgramTerms:
    tiers: list[Tier] = strawberry.field(description="Tiers, ascending thresholds.")
    cap: decimal.Decimal | None = strawberry.field(
        description="Most a dealer can earn from the program in total (net).")
    segment_code: strawberry.Private[str | None]

    @strawberry.field(description="The segment these terms are for; null = default terms.")
    async def segment(self, info: Info) -> Segment | None:
        if self.segment_code is None:
            return None
        found = await info.context.loaders.segment_by_code.load(self.segment_code)
        return Segment.from_domain(found) if found else None


@strawberry.type(description="A rebate program (返利政策). Each edit of an ACTIVE program is a "
                             "new version; accruals keep the version they used. `id` names "
                             "the program and stays the same across versions; `versionId` "
                             "names one version.")
class Program(Node):
    id: strawberry.ID = strawberry.field(
        description="Global ID of the program, the same for every version: `node(id:)` gives "
                    "the current version.")
    version_id: strawberry.ID = strawberry.field(
        description="Global ID of this very version (what `id` was before ids were stable): "
                    "`node(id:)` gives this version, even after newer ones.")
    code: str = strawberry.field(description="Program code (unique).")
    name: str = strawberry.field(description="Display name.")
    basis: RebateBasis = strawberry.field(description="What counts towards the tiers.")
    rate_kind: RateKind = strawberry.field(description="How tier rates are read.")
    tier_mode: TierMode = strawberry.field(description="Retroactive or incremental tiers.")
    period_kind: PeriodKind = strawberry.field(description="Month, quarter or year.")
    accumulation: Accumulation = strawberry.field(description="Per period or year to date.")
    valid_from: dt.date = strawberry.field(description="First day that counts.")
    valid_to: dt.date = strawberry.field(description="Last day that counts.")
    currency: str = strawberry.field(description="Only transactions in it count.")
    product_codes: list[str] = strawberry.field(description="Products that count; empty = all.")
    terms: list[ProgramTerms] = strawberry.field(
        description="Terms per segment and default (a DEALER sees only the terms it gets).")
    payout_form: PayoutForm = strawberry.field(description="How the rebate is paid.")
    tax_rate: decimal.Decimal = strawberry.field(description="Percent withheld from CASH.")
    status: ProgramStatus = strawberry.field(description="DRAFT, ACTIVE or RETIRED.")
    version: int = strawberry.field(description="Version number, from 1.")
    scorecard_template_code: str | None = strawberry.field(
        description="Code of the scorecard template whose multiplier applies.")
    tier_measure: TierMeasure = strawberry.field(
        description="What thresholds are: basis amounts or percentages of the target.")
    tier_evaluation: TierEvaluation = strawberry.field(
        description="Tiers on the period's total, or on each transaction (immediate rebate).")
    minimum_payout: decimal.Decimal | None = strawberry.field(
        description="A positive net below it is paid 0 now and carried forward to the "
                    "program's next period; the last period pays whatever it holds.")
    credit_validity_days: int | None = strawberry.field(
        description="CREDIT_NOTE only: days a settlement's credit to the dealer's rebate "
                    "account stays spendable (expiresOn = settlement date + days); null: "
                    "credits never expire.")

    @classmethod
    def from_domain(cls, rules: programs.ProgramRules, status: ProgramStatus,
                    only_terms: programs.Terms | bool | None = False) -> Program:
        """`only_terms`: show just these terms (a DEALER's), None for none, False for all."""
        shown = [t for t in rules.terms if only_terms is False or t == only_terms]
        return cls(
            id=program_id(rules.code), version_id=program_version_id(rules.code, rules.version),
            code=rules.code,
            name=rules.name, basis=rules.basis, rate_kind=rules.rate_kind,
            tier_mode=rules.tier_mode, period_kind=rules.period_kind,
            accumulation=rules.accumulation, valid_from=rules.valid_from,
            valid_to=rules.valid_to, currency=rules.currency,
            product_codes=list(rules.product_codes),
            terms=[ProgramTerms(tiers=[Tier(threshold=t.threshold, rate=t.rate)
                                       for t in term.tiers],
                                cap=term.cap, segment_code=term.segment_code)
                   for term in shown],
            payout_form=rules.payout_form, tax_rate=rules.tax_rate, status=status,
            version=rules.version, scorecard_template_code=rules.scorecard_template_code,
            tier_measure=rules.tier_measure, tier_evaluation=rules.tier_evaluation,
            minimum_payout=rules.minimum_payout,
            credit_validity_days=rules.credit_validity_days)

    @strawberry.field(description="The scorecard template whose multiplier applies; null: "
                                   "no scorecard.")
    async def scorecard_template(self, info: Info) -> ScorecardTemplate | None:
        if self.scorecard_template_code is None:
            return None
        found = await info.context.loaders.scorecard_template_by_code.load(
            self.scorecard_template_code)
        return ScorecardTemplate.from_domain(found) if found else None


async def program_of(info: Info, code: str, version: int | None = None) -> Program:
    """The program a nested object names (its current version unless `version`), as the
    caller may see it: a DEALER sees only the terms it gets."""
    found = await info.context.loaders.program_view_by_key.load((code, version))
    if found is None:
        raise LookupError(f"program {code} (version {version}) is missing")
    return found


@strawberry.input(description="A tier.")
class TierInput:
    threshold: decimal.Decimal
    rate: decimal.Decimal


@strawberry.input(description="Terms for a segment; segmentCode null = the default terms.")
class ProgramTermsInput:
    segment_code: str | None = None
    tiers: list[TierInput]
    cap: decimal.Decimal | None = None


@strawberry.input(description="A program. createProgram makes it (DRAFT unless activate); "
                              "updateProgram edits it by code.")
class ProgramInput:
    code: str
    name: str
    basis: RebateBasis
    rate_kind: RateKind
    tier_mode: TierMode
    period_kind: PeriodKind
    accumulation: Accumulation
    valid_from: dt.date
    valid_to: dt.date
    currency: str
    product_codes: list[str] | None = None
    terms: list[ProgramTermsInput]
    payout_form: PayoutForm
    tax_rate: decimal.Decimal | None = None
    scorecard_template_code: str | None = None
    tier_measure: TierMeasure | None = strawberry.field(
        default=None, description="Default BASIS.")
    tier_evaluation: TierEvaluation | None = strawberry.field(
        default=None, description="Default PERIOD_TOTAL.")
    minimum_payout: decimal.Decimal | None = strawberry.field(
        default=None, description="Money, more than 0; null: every net is paid.")
    credit_validity_days: int | None = strawberry.field(
        default=None, description="CREDIT_NOTE only (refused for CASH and GOODS): 1 to 3650 "
                                  "days; null: credits never expire.")
    activate: bool | None = strawberry.field(
        default=None, description="true: the program is ACTIVE at once (ADMIN, FINANCE).")

    def to_domain(self) -> programs.ProgramRules:
        return programs.ProgramRules(
            code=self.code, name=self.name, basis=self.basis, rate_kind=self.rate_kind,
            tier_mode=self.tier_mode, period_kind=self.period_kind,
            accumulation=self.accumulation, valid_from=self.valid_from,
            valid_to=self.valid_to, currency=self.currency.strip(),
            product_codes=tuple(p.strip() for p in self.product_codes or ()),
            terms=tuple(programs.Terms(
                segment_code=t.segment_code.strip() if t.segment_code else None, cap=t.cap,
                tiers=tuple(tiers.Tier(x.threshold, x.rate) for x in t.tiers))
                for t in self.terms),
            payout_form=self.payout_form,
            tax_rate=self.tax_rate if self.tax_rate is not None else decimal.Decimal(0),
            scorecard_template_code=(self.scorecard_template_code or "").strip() or None,
            tier_measure=self.tier_measure or TierMeasure.BASIS,
            tier_evaluation=self.tier_evaluation or TierEvaluation.PERIOD_TOTAL,
            minimum_payout=self.minimum_payout,
            credit_validity_days=self.credit_validity_days)


@strawberry.input(description="Names a program by code.")
class ProgramCodeInput:
    code: str


@strawberry.type(description="Result of a program mutation.")
class ProgramPayload:
    program: Program | None = strawberry.field(description="The program; null on errors.")
    user_errors: list[UserError] = strawberry.field(description="Problems; nothing stored.")
