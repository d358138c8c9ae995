"""The recurrent gradient's time profile: how much of dL/dW_rec comes from far back.

Pascanu et al. (2013) write the recurrent weights' gradient as a sum of one
term per step; vanishing gradients mean the terms from far back are tiny, so
the gradient learns almost nothing about long-range dependencies. The probe
(``measure.py``) measures every step's term exactly; this side reduces each
run to a few numbers and draws the share of the gradient from k or more steps
back, by k. Keras-free.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from zoo.core.analysis import without_own_recurrent_weights
from zoo.core.colors import cell_colors, cell_markers, figure_legend, marked
from zoo.core.probe_registry import register_probe


def _final(table):
    """Every run's rows of its last probed epoch."""
    last = table.groupby(["cell", "mode", "seed"]).epoch.transform("max")
    return table[table.epoch == last]


def figure(table):
    """share_from by lag, a line per cell (mean over seeds), a panel per mode; dashed: the initial
    weights. The cells ``finding`` leaves out are left out here too, and named in the title."""
    if table.empty:
        return None
    apart = without_own_recurrent_weights(table)  # as ``finding`` leaves them out
    table = table[~table.cell.isin(apart)]
    if table.empty:
        return None
    modes = list(dict.fromkeys(table["mode"]))
    # At least 9 inches wide, so one panel leaves room for the title and the legend beside it.
    fig = Figure(figsize=(max(5.2 * len(modes), 9.0), 3.8), layout="constrained")
    axes = fig.subplots(1, len(modes), squeeze=False)[0]
    first = table[table.epoch == table.groupby(["cell", "mode", "seed"]).epoch.transform("min")]
    for ax, mode in zip(axes, modes):
        colors, markers = cell_colors(table.cell), cell_markers(table.cell)
        for cell in sorted(set(table[table["mode"] == mode].cell)):
            color = colors[cell]
            for rows, style, label in ((_final(table), "-", cell), (first, "--", None)):
                mine = rows[(rows["mode"] == mode) & (rows.cell == cell)]
                mean = mine.groupby("lag").share_from.mean()
                ax.plot(mean.index, mean.to_numpy(), style, color=color, label=label,
                        **(marked(markers[cell], mean.to_numpy()) if label else {}))
        ax.set_title(f"{mode} (solid: trained, dashed: initial)", fontsize=9)
        ax.set_xlabel("k: steps back from the last step")
        ax.set_ylabel("share of Σ‖dL/dW_rec|_t‖ from lags ≥ k")
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    # One legend beside the panels, not one per panel over the lines: the cells are the same in each.
    figure_legend(fig, axes, loc="outside right upper", fontsize=8, title="cell", title_fontsize=8)
    left = (f"\nLeft out: {', '.join(apart)} (no recurrent weights apart from the input's: their profile is not "
            "dL/dW_rec's)" if apart else "")
    fig.suptitle("The recurrent gradient's time profile (Pascanu et al. 2013): where dL/dW_rec comes from" + left,
                 fontsize=10)
    return fig


def finding(summary):
    """A sentence: which cell's trained gradient draws most on the sequence's older half, and which least.

    Among the cells with recurrent weights of their own: where a cell has none apart from its input's
    (minGRU, minLSTM; coRNN's one kernel reads both), the profile sums every cell weight's terms, which
    is not dL/dW_rec; those are named as left out rather than ranked beside the others.
    """
    apart = without_own_recurrent_weights(summary)
    kept = summary[~summary.cell.isin(apart)]
    means = kept.groupby(["cell", "mode"]).share_older_half.mean().dropna()
    left = (f" Left out: {', '.join(apart)}: no recurrent weights apart from the input weights, so the profile "
            "sums the terms of every weight of the cell." if apart else "")
    if means.empty:
        return left.strip() or None
    lo, hi = means.idxmin(), means.idxmax()
    if len(means) == 1:  # one cell and mode: its share, with nothing to set it against
        return (f"Gradient time profile: at the last probed epoch, the terms of the older half of the sequence "
                f"make up {means[hi]:.0%} of Σ‖dL/dW_rec|_t‖ for {hi[0]} ({hi[1]}).") + left
    return (f"Gradient time profile: at the last probed epoch, the terms of the older half of the sequence "
            f"make up {means[hi]:.0%} of Σ‖dL/dW_rec|_t‖ for {hi[0]} ({hi[1]}), the most, and {means[lo]:.0%} for "
            f"{lo[0]} ({lo[1]}), the least: the smaller the share, the less the recurrent weights learn from far "
            "back.") + left


@register_probe(
    "grad_time_profile",
    columns=("term_norm", "share_from", "tail_ratio"),
    unit="lag",
    summary=("share_from_1", "share_older_half", "half_lag"),
    reduce="last",
    fmt=".3f",
    figure=figure,
    finding=finding,
    explain={"share_from_1": "the share of Σ_t ‖dL/dW_rec|_t‖ from terms 1 or more steps back (all but the "
                             "last step's own), at the last probed epoch",
             "share_older_half": "the share from the older half of the sequence",
             "half_lag": "the furthest lag k from which at least half of Σ_t ‖dL/dW_rec|_t‖ still comes"},
)
def summarize(rows) -> dict[str, float]:
    """The recurrent gradient's terms by lag (Pascanu et al. 2013): their share from k or more steps back."""
    share = rows.set_index("lag").share_from.sort_index()
    if not share.get(0, 0) > 0:
        # No gradient reached the recurrent weights at all (the probe stores 0 at every lag): no time
        # profile, rather than a 0 the finding would read as "learns least from far back".
        return {"share_from_1": math.nan, "share_older_half": math.nan, "half_lag": math.nan}
    lags = share.index.to_numpy()
    half = lags[share.to_numpy() >= 0.5]
    older = (int(lags.max()) + 2) // 2  # the older half of T steps: lags ceil(T/2) .. T-1
    return {
        "share_from_1": float(share.get(1, math.nan)),  # all but the last step's own term
        "share_older_half": float(share.get(older, math.nan)),
        # the furthest lag k from which at least half of Σ‖term‖ still comes
        "half_lag": float(np.max(half)) if len(half) else math.nan,
    }
