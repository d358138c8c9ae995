"""Figures of the gradient through time: dL/dx_t and ‖dh_T/dh_t‖ against lag
(per mode, and per window of a window sweep), and the per-step factors that
explain their decay (the one-step Jacobian's spectrum, the top Lyapunov
exponent, the carry gate). Each takes tables and returns a Figure.
"""

from __future__ import annotations

import math
import textwrap

import matplotlib.lines
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zoo.core.analysis import percent_text, without_own_recurrent_weights
from zoo.report.plots import (
    band,
    cell_colors,
    cell_markers,
    legend,
    panels,
    seeds_note,
    seeds_over,
    spread_note,
    subplots,
)
from zoo.report.table_text import sigma_min_text


def _state_size_caption(probes: pd.DataFrame, summary: pd.DataFrame | None = None) -> str:
    """The lag-0 value of ‖dh_T/dh_t‖ is ‖I‖_F = √(state size), read back from the data, the cells
    grouped by state size, set against their units where ``summary`` has them (a swept ``units``).
    Nothing is said of a cell that its numbers do not say (no "an LSTM carries h and c")."""
    zero = probes[(probes.lag == 0)].dropna(subset=["dhT_dht"])
    sizes = zero.groupby("cell").dhT_dht.first()
    if sizes.empty:
        return ""
    units = {}
    if summary is not None and {"cell", "units"} <= set(summary.columns):
        per_cell = summary.dropna(subset=["units"]).groupby("cell").units
        # Only a cell of one size throughout: a param_budget grid or a units sweep sizes it per row,
        # and the probes' first row need not be the summary's first.
        units = {c: u.iloc[0] for c, u in per_cell if u.nunique() == 1}
    groups: dict[tuple, list[str]] = {}
    for cell, v in sizes.items():
        size, u = round(v * v), units.get(cell)
        groups.setdefault((size, f" ({size} = {size / u:g} × {u:g} units)" if u else ""), []).append(cell)
    parts = [f"√{size} = {math.sqrt(size):.3g}{ratio}: {', '.join(cells)}"
             for (size, ratio), cells in sorted(groups.items())]
    # Said of no cell by name: the state is whatever a cell carries from step to step.
    if any(round(v * v) > units.get(cell, math.inf) for cell, v in sizes.items()):
        more = " A state larger than the units holds more than h: every vector the cell carries from step to step."
    elif len(groups) > 1:
        more = " The state is every vector a cell carries from step to step, so its size differs between cells."
    else:
        more = ""
    return ("Lag 0 of ‖dh_T/dh_t‖ is dh_T/dh_T = I, whose Frobenius norm is √(state size): "
            + "; ".join(parts) + "." + more)


def _first_label(epoch) -> str:
    return "initial weights (epoch 0)" if epoch == 0 else f"first probed epoch ({int(epoch)})"


def _no_state_note(mode: str, summary: pd.DataFrame | None) -> str:
    """Why a mode has no ‖dh_T/dh_t‖, and whether its state runs through time all the same, from
    what its runs hold (not from its name). ‖dh_T/dh_t‖ is measured along the input's steps, so a
    mode that reads its input as one step has none; its state may still run over steps of its own
    (a decoder): then the gradient time profile probe (two steps or more) measured how much of the
    recurrent gradient comes from before the last step, and its recurrent kernels get a share of
    the gradient, exactly 0 for a single step from a zero state."""
    rows = summary[summary["mode"] == mode] if summary is not None and "mode" in summary else pd.DataFrame()
    share = rows.recurrent_share.dropna() if "recurrent_share" in rows else pd.Series(dtype=float)
    # The profile of a cell without recurrent weights of its own sums every weight's terms (the
    # time-profile probe leaves it out): its share is not the recurrent gradient's.
    own = rows[~rows.cell.isin(without_own_recurrent_weights(rows))]
    earlier = own.share_from_1.dropna() if "share_from_1" in own else pd.Series(dtype=float)
    head = (f"{mode}: no ‖dh_T/dh_t‖ stored.\nIt is measured along the input's steps,\n"
            "and this mode reads its input as one step.")
    if len(earlier) and (earlier > 0).any():
        low, high = f"{earlier.min():.0%}", f"{earlier.max():.0%}"
        span = low if low == high else f"{low}–{high}"
        return (head + "\n\nBut its state does run through time, over\nsteps of its own: " + span
                + " of its recurrent\ngradient comes from steps before the last\n(the gradient time profile's figure).")
    if (share > 0).any() and (share == 0).any():
        # One step from the zero state: the kernels reading the old state get nothing, but a weight a
        # cell declares recurrent (LEM's z_kernel, RG-LRU's a) can act within that step, so its share
        # says nothing of time.
        cells = ", ".join(sorted(set(rows.cell[rows.recurrent_share > 0])))
        return (head + f"\n\nIts recurrent weights get up to {percent_text(share.max())}\nof the gradient norm in "
                f"{cells} only:\nweights a cell declares recurrent can act\nwithin one step from a zero state; "
                "a\nkernel reading the old state gets none.")
    if (share > 0).any():
        return (head + "\n\nBut its state does run through time: its\nrecurrent kernels get up to "
                f"{percent_text(share.max())} of the\ngradient norm (0 for one step from a zero state).")
    if len(share) and (share == 0).all():
        return head + "\n\nNo state through time: one step\nfrom a zero state (its recurrent\nkernels get no gradient)."
    return head


def gradient_by_lag(probes: pd.DataFrame, summary: pd.DataFrame | None = None) -> Figure:
    """dL/dx and dh_T/dh_t against lag, first (dashed: the initial weights) and last (solid) probed epoch.

    ``summary`` (``Results.summary``), where given, says for a mode with no ‖dh_T/dh_t‖ whether its
    state runs through time all the same, and puts the state sizes of the caption against the units."""
    modes = list(dict.fromkeys(probes["mode"]))
    colors, markers = cell_colors(probes.cell.unique()), cell_markers(probes.cell.unique())
    fig, axes = panels(modes, rows=2)
    rows = [("dL_dx", "RMS ‖dL/dx_t‖\nover the probe batch"),
            ("dhT_dht", "‖dh_T/dh_t‖ (Frobenius),\nmean over the probe batch")]
    labelled = set()  # each row's first panel with data gets the y label
    for col, mode in enumerate(modes):
        for row, (y, label) in enumerate(rows):
            ax = axes[row, col]
            t = probes[(probes["mode"] == mode)].dropna(subset=[y])
            ax.set_title(f"{mode}: dL/dx_t" if row == 0 else f"{mode}: through time")
            if t.empty:
                ax.text(0.5, 0.5, _no_state_note(mode, summary) if y == "dhT_dht" else f"{mode}: nothing measured",
                        ha="center", va="center", transform=ax.transAxes, color="0.3", fontsize=8.5)
                ax.set(xticks=[], yticks=[])
                continue
            for cell, c in t.groupby("cell"):
                first, last = c.epoch.min(), c.epoch.max()
                for epoch, style in ((first, "--"), (last, "-")):
                    m = c[c.epoch == epoch].groupby("lag")[y].mean()
                    ax.plot(m.index, m.values, ls=style, marker=markers[cell] or "o", ms=3, color=colors[cell],
                            label=cell if epoch == last else None)
            through = probes[probes["mode"] == mode].dhT_dht.notna().any()
            ax.set(yscale="log", xlabel="lag T − t (steps before the last input)" if through
                   else "value of the one input step\n(0: the newest, counted back)")
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            if row not in labelled:
                ax.set_ylabel(label + " (log)")
                labelled.add(row)
    first, last = probes.epoch.min(), probes.epoch.max()
    fig.suptitle(f"Gradients through time: dashed = {_first_label(first)}, solid = epoch {int(last)}; "
                 + seeds_note(probes))
    caption = _state_size_caption(probes, summary)
    if caption:  # wrapped to the figure's width (about 14 characters an inch at 9 points)
        fig.supxlabel(textwrap.fill(caption, int(fig.get_figwidth() * 14)), fontsize=9, color="0.25")
    legend(fig, axes)
    return fig


def _point(ax, x: float, value: float, floor: float, marker: str, **style) -> None:
    """A factor as a marker; one below the axis' floor as a ▼ at the floor with its value."""
    if not np.isfinite(value):
        return
    if value >= floor:
        ax.plot(x, value, marker, **style)
        return
    ax.plot(x, floor, "v", **{**style, "ms": style.get("ms", 7) * 0.8})
    ax.annotate(f"{value:.1g}", (x, floor), xytext=(0, 7), textcoords="offset points", ha="center", fontsize=7)


CELLS_A_PANEL = 16  # the spectrum's cells side by side in one panel; more split over several


NUDGE = 0.13  # how far beside its cell's bar e^λ (left) and the carry (right) stand, in cells


def jacobian_spectrum(summary: pd.DataFrame) -> Figure:
    """Per-step factors that explain the decay, one panel per mode with a state through time:
    the one-step Jacobian's singular values (bar: min to max, tick: median), e^λ of the top
    Lyapunov exponent, the per-step factor of ‖dh_T/dh_t‖ over lags 1-5 and the carry gate,
    at the initial weights (left, thin, hollow) and the last probed epoch (right, thick)."""
    s = summary.dropna(subset=["jac_sigma_max"])
    modes = list(dict.fromkeys(s["mode"])) or ["(none)"]
    colors = cell_colors(summary.cell.unique())
    # A panel per mode, its cells side by side (at most CELLS_A_PANEL: more split over several
    # panels); panels wrap onto further lines, so the figure keeps a readable shape with any number
    # of cells and modes (15 cells: one mode a line, not a 52-inch strip).
    cells = sorted(s.cell.unique())
    parts = -(-len(cells) // CELLS_A_PANEL)
    size = -(-len(cells) // parts) if cells else 0
    chunks = [cells[i:i + size] for i in range(0, len(cells), size)] if cells else [[]]
    shown = [(mode, chunk, f"{mode} ({k + 1}/{len(chunks)})" if len(chunks) > 1 else mode)
             for mode in modes for k, chunk in enumerate(chunks)]
    n_cells = max(size, 2)
    panel_width = 0.8 * n_cells + 0.9
    cols = max(1, min(len(shown), int(13 // panel_width), 4))
    lines = -(-len(shown) // cols)
    fig, grid = subplots(lines, cols, figsize=(max(panel_width * cols + 3.6, 9.0), 4.0 * lines + 0.8),
                         squeeze=False, sharey=True, constrained_layout=True)
    axes = grid.ravel()
    for ax in axes[len(shown):]:
        ax.set_visible(False)
    # The axis shows factors down to FLOOR; a smaller σ_min (a direction one step all but
    # erases, as in an LSTM, whose h' is nearly a function of c') is written at the bottom.
    shown_values = pd.concat([s.jac_sigma_median, s.decay_factor, np.exp(s.lyapunov_top), s.carry,
                              s.decay_factor_first, np.exp(s.lyapunov_top_first)]).dropna()
    floor = (10 ** np.floor(np.log10(max(min(shown_values.min() / 3, 0.1), 1e-4))) if len(shown_values)
             else 0.01)
    top = max(s.jac_sigma_max.max(), s.jac_sigma_max_first.max(), 1.0) * 1.6 if len(s) else 2.0
    for ax, (mode, chunk, title) in zip(axes, shown):
        t = s[(s["mode"] == mode) & s.cell.isin(chunk)].sort_values("cell")
        for i, r in enumerate(t.itertuples()):
            c = colors[r.cell]
            if np.isfinite(r.jac_sigma_max_first):
                ax.plot([i - 0.2] * 2, [max(r.jac_sigma_min_first, floor), r.jac_sigma_max_first], color=c, lw=2,
                        alpha=0.45)
                # e^λ a little left of its bar, the factor on it: equal values stay two markers
                _point(ax, i - 0.2 - NUDGE, np.exp(r.lyapunov_top_first), floor, "o", color=c, mfc="white", ms=7)
                _point(ax, i - 0.2, r.decay_factor_first, floor, "D", color=c, mfc="white", ms=6)
            ax.plot([i + 0.2] * 2, [max(r.jac_sigma_min, floor), r.jac_sigma_max], color=c, lw=7, alpha=0.75)
            ax.plot(i + 0.2, r.jac_sigma_median, "_", color="black", ms=16, mew=2)
            _point(ax, i + 0.2 - NUDGE, np.exp(r.lyapunov_top), floor, "o", color="black", mfc=c, ms=8)
            _point(ax, i + 0.2, r.decay_factor, floor, "D", color="black", mfc=c, ms=7)
            if np.isfinite(r.carry):
                ax.plot(i + 0.2 + NUDGE, r.carry, "s", color="black", mfc="white", ms=7)  # right of it
            if r.jac_sigma_min < floor:
                last = i == len(t) - 1  # centred on the last bar, the label would cross the frame
                shown = sigma_min_text(r.jac_sigma_min, r.jac_sigma_max).replace(" σ_max", "\nσ_max")  # narrow
                ax.annotate(f"σ_min\n{shown}", (i + 0.2, floor),
                            xytext=(6 if last else 0, 4),
                            textcoords="offset points", ha="right" if last else "center", va="bottom", fontsize=7,
                            bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1})
        ax.axhline(1.0, color="black", lw=0.8, ls=":")
        ax.set_xticks(range(len(t)), list(t.cell), rotation=35 if n_cells > 5 else 0,
                      ha="right" if n_cells > 5 else "center", rotation_mode="anchor")
        ax.set_xlim(-0.6, len(t) - 0.4)
        ax.set(yscale="log", title=title, ylim=(floor, top))
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for ax in grid[:, 0]:
        ax.set_ylabel("factor per step back in time (log)\nabove 1: grows, below 1: shrinks")
    line = matplotlib.lines.Line2D
    handles = [line([], [], color="0.4", lw=7, alpha=0.75,
                    label=r"singular values of $\partial h_{t+1}/\partial h_t$, min to max"),
               line([], [], color="black", marker="_", ls="", ms=16, mew=2, label="median singular value"),
               line([], [], color="black", marker="D", ls="", mfc="0.6", label="‖dh_T/dh_t‖ per step, lags 1-5"),
               line([], [], color="black", marker="o", ls="", mfc="0.6",
                    label="e^λ, top Lyapunov exponent\n(finite-time, most expanding direction)"),
               line([], [], color="black", marker="s", ls="", mfc="white", label="carry gate: share of old state kept"),
               line([], [], color="0.4", lw=2, alpha=0.45, marker="o", mfc="white",
                    label="left, thin, hollow: initial weights")]
    fig.legend(handles=handles, loc="outside right center", frameon=False, fontsize=8)
    seeds = seeds_over(s.ok) if "ok" in s else "one seed"
    over = f"({seeds}; σ range over steps{' and sequences' if seeds == 'one seed' else ', sequences and seeds'})"
    fig.suptitle("Why gradients vanish or not: one-step Jacobian spectrum and per-step factors\n"
                 "right of each cell: last probed epoch " + over, fontsize=11)
    return fig


def decay_by_window(probes: pd.DataFrame) -> Figure:
    """dh_T/dh_t against lag at the last probed epoch, one panel per window length."""
    p = probes.dropna(subset=["dhT_dht"])
    p = p[p.epoch == p.groupby("run_id").epoch.transform("max")]
    windows = sorted(p.window.unique())
    colors = cell_colors(p.cell.unique())
    fig, axes = panels(windows, height=4.0, sharey=True)
    for ax, window in zip(axes[0], windows):
        for cell, c in p[p.window == window].groupby("cell"):
            band(ax, c, "lag", "dhT_dht", colors[cell], cell)
        ax.set(title=f"window {window}", xlabel="lag T − t (steps back)", yscale="log")
    axes[0, 0].set_ylabel("‖dh_T/dh_t‖ (Frobenius, mean over\nthe probe batch, log scale)")
    fig.suptitle("Gradients through time against lag, one panel per window: last probed epoch\n"
                 f"({spread_note(p, 'band', 'min..max over seeds', by=('cell', 'window'))})")
    caption = _state_size_caption(p)
    if caption:
        fig.supxlabel(textwrap.fill(caption, int(fig.get_figwidth() * 14)), fontsize=9, color="0.25")
    legend(fig, axes)
    return fig
