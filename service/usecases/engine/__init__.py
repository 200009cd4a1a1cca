"""The accrual engine: one program period's accruals, for some or all dealers, from what
is stored now.

Open periods are (re)computed in full (open_periods.py). Closed periods are never
recomputed: their changes are reconciled into adjustments on the earliest open period
(closed_periods.py). Both build on the same inputs and figures (inputs.py); dispatch.py
decides which applies and drains the recomputation marks. simulation.py computes periods
with the same figures and writes nothing (simulateProgram).
"""
from service.usecases.engine.closed_periods import reconcile_locked
from service.usecases.engine.dispatch import (
    catch_up_program,
    compute_period,
    process,
    recompute,
)
from service.usecases.engine.open_periods import carry_forward

__all__ = ["carry_forward", "catch_up_program", "compute_period", "process", "recompute",
           "reconcile_locked"]
