"""‖dh_T/dh_t‖ by lag and the top Lyapunov exponent, per run.

A run is reduced to ‖dh_T/dh_1‖, the Jacobian over the whole sequence but its
first step, at the initial weights and at the last probed epoch, as
metrics.json's ``dhT_dh1_init`` and ``dhT_dh1``. The report's own summary
reads the per-step decay factors and the exponent from probes.csv, which holds
these rows too; its gradient-by-lag figure draws them. Keras-free.
"""

from __future__ import annotations

import math

from zoo.core.probe_registry import register_probe


def first_step_norm(rows) -> float:
    """‖dh_T/dh_1‖ of one probed epoch's rows: the norm at lag T - 1; NaN where there is none."""
    found = rows[rows.lag == rows.lag.max() - 1].dhT_dht
    return float(found.iloc[0]) if len(found) else math.nan


@register_probe(
    "state_jacobian",
    columns=("dhT_dht", "lyapunov_top"),
    unit="lag",
    summary=("dhT_dh1", "dhT_dh1_init"),
    reduce="all",
    fmt=".3g",
    every_run=("dhT_dh1_init",),
    explain={"dhT_dh1": "‖dh_T/dh_1‖, the state Jacobian over the whole sequence but its first step, at the "
                        "last probed epoch (a Frobenius norm: the identity's is √(state size), so set cells "
                        "of different state sizes against each other by the figure's lag-0 line, not raw)",
             "dhT_dh1_init": "the same at the initial weights"},
)
def summarize(rows) -> dict[str, float]:
    """‖dh_T/dh_t‖ by lag (the mean Frobenius norm of the chained state Jacobian) and the finite-time
    top Lyapunov exponent (a value per probed epoch, on each of its lag rows)."""
    return {"dhT_dh1": first_step_norm(rows[rows.epoch == rows.epoch.max()]),
            "dhT_dh1_init": first_step_norm(rows[rows.epoch == rows.epoch.min()])}
