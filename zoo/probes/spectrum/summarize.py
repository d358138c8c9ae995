"""The one-step Jacobian's spectrum, the Lyapunov sum and the tanh slope, per run.

A run is reduced to its values at the last probed epoch and its σ range at the
first (the initial weights). The report's summary row takes the extremes of σ
over the seeds (the smallest σ_min, the largest σ_max) and the mean of the
rest; the σ range at the initial weights counts diverged runs too, as it is
measured before training went anywhere. Keras-free.
"""

from __future__ import annotations

from zoo.core.probe_registry import register_probe

COLUMNS = ("jac_sigma_max", "jac_sigma_min", "jac_sigma_median", "qr_lyapunov_max", "lyapunov_sum",
           "lyapunov_sum_unresolved", "tanh_slope_mean", "tanh_slope_over_0_9")
FIRST = ("jac_sigma_max_first", "jac_sigma_min_first")


@register_probe(
    "spectrum",
    columns=COLUMNS,
    unit="epoch",
    summary=(*COLUMNS, *FIRST),
    reduce="all",
    fmt=".3g",
    combine={"jac_sigma_max": "max", "jac_sigma_min": "min", "jac_sigma_max_first": "max",
             "jac_sigma_min_first": "min"},
    every_run=FIRST,
    explain={
        "jac_sigma_max": "the largest singular value of the one-step Jacobians dh_{t+1}/dh_t along the probe "
                         "sequences, at the last probed epoch (the largest over seeds)",
        "jac_sigma_min": "their smallest (the smallest over seeds)",
        "jac_sigma_median": "their median",
        "qr_lyapunov_max": "the QR method's top Lyapunov exponent per step, its transient discarded",
        "lyapunov_sum": "the sum of the Lyapunov exponents per step (the mean ln |det| of the one-step Jacobians)",
        "lyapunov_sum_unresolved": "the part of that sum from directions below float32 resolution",
        "tanh_slope_mean": "the mean of 1 - h² over the output state h: the tanh's slope where h is a tanh's "
                           "output (near 1: almost linear), not a slope of a ReLU or linear state",
        "tanh_slope_over_0_9": "the share of those slopes above 0.9",
        "jac_sigma_max_first": "jac_sigma_max at the initial weights",
        "jac_sigma_min_first": "jac_sigma_min at the initial weights",
    },
)
def summarize(rows) -> dict[str, float]:
    """The one-step Jacobians' singular values, the QR Lyapunov spectrum and the tanh slope."""
    first, last = rows[rows.epoch == rows.epoch.min()].iloc[0], rows[rows.epoch == rows.epoch.max()].iloc[0]
    return {**{c: float(last[c]) for c in COLUMNS}, **{c: float(first[c.removesuffix("_first")]) for c in FIRST}}
