"""The gradient norm per weight group: where in the model the gradient is.

Each epoch's row per group holds the mean and the largest norm of its
training steps (those with a finite gradient), of the raw gradient before
clipping. A run is reduced to the recurrent kernels' share of the gradient at
its last epoch and its largest group norm at any step (``group_norm_peak``: one
group's, so at most the global norm's peak, ``grad_norm_peak``). Keras-free.
"""

from __future__ import annotations

import math

import numpy as np

from zoo.core.analysis import percent_text
from zoo.core.probe_registry import register_probe


def recurrent_share(rows) -> float:
    """The recurrent kernels' share of the gradient norm (from the groups' epoch means): NaN where
    the model has no recurrent kernel, 0 where no gradient flows through it (one step from zero)."""
    squares = rows.norm_mean.to_numpy() ** 2
    recurrent = rows.group.str.endswith("recurrent_kernel").to_numpy()
    total = squares.sum()
    if not recurrent.any() or not np.isfinite(total) or total == 0:
        return math.nan
    return float(np.sqrt(squares[recurrent].sum() / total))


def finding(summary):
    """A sentence: which cell's trained gradient sits most in its recurrent kernels, and which least.

    A run whose recurrent kernels got no gradient at all in its last epoch (a share of exactly 0) is left
    out: nothing flows through time there (one step from the zero state gives them none, by
    construction), so its 0 says nothing about how much a recurrence learns. Told from the stored
    gradient, not from the mode: one_to_many's layout reads one step too, but its cell runs a step per
    output."""
    shares = summary.last_epoch_recurrent_share
    none = summary[shares == 0]
    means = summary[shares > 0].groupby(["cell", "mode"]).last_epoch_recurrent_share.mean().dropna()
    if len(means) < 2:
        return None
    lo, hi = means.idxmin(), means.idxmax()
    text = (f"Weight groups: in the last epoch the recurrent weights (kernels, and those a cell declares) hold "
            f"{percent_text(means[hi])} of the gradient norm of {hi[0]} ({hi[1]}) but {percent_text(means[lo])} of "
            f"{lo[0]}'s ({lo[1]}): the smaller the share, the less the recurrence learns.")
    if len(none):
        text += (f" Left out: {len(none)} run{'s' if len(none) > 1 else ''} whose recurrent kernels got no gradient at "
                 f"all ({', '.join(dict.fromkeys(none['mode']))}): nothing flows through time there (a single step "
                 "from the zero state gives them none), so there is no recurrence to compare.")
    return text


@register_probe(
    "gradients",
    columns=("norm_mean", "norm_max"),
    unit="group",
    during="step",
    over_steps={"norm": ("mean", "max")},
    summary=("last_epoch_recurrent_share", "group_norm_peak"),
    reduce="all",
    fmt=".3g",
    finding=finding,
    combine={"group_norm_peak": "max"},
    explain={"last_epoch_recurrent_share": "the recurrent weights' share of the gradient norm in the last epoch "
                                           "(empty where the model has none)",
             "group_norm_peak": "the largest gradient norm of any weight group at any training step, before "
                                "clipping (the largest over seeds)"},
)
def summarize(rows) -> dict[str, float]:
    """Gradient norm per weight group (epoch mean and max over the training steps, before clipping)."""
    last = rows[rows.epoch == rows.epoch.max()]
    return {"last_epoch_recurrent_share": recurrent_share(last), "group_norm_peak": float(rows.norm_max.max())}
