"""``Diagnosis``: what ``zoo.diagnose`` measured on a user's model, as tables, figures and a report.

Keras-free: it holds only the numbers (``zoo.engine.diagnose`` measures them),
so it can be built, plotted and reported anywhere.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from zoo.core.analysis import LATE_MIN_WINDOW, decay_factor, late_decay_factor
from zoo.core.config import ConfigError, show
from zoo.report import html as pages
from zoo.report.table_text import sigma_min_text
from zoo.store.atomic import atomic_folder, write_bytes

MANIFEST = ".rnn-zoo-diagnosis"  # the files a diagnosis report wrote: only those may be replaced
PROBE_COLUMNS = ("layer", "lag", "dL_dx", "dhT_dht")
MEANINGS = {
    "dL_dx": "RMS over the batch of ‖dL/dx_t‖, the loss gradient at the layer's input t steps before its last "
             "(real) step: how much the loss hears from inputs that far back",
    "dhT_dht": "‖dh_T/dh_t‖ (Frobenius, batch mean), the layer's last state against its state t steps before, "
               "over its whole carried state (h, and c for an LSTM): below 1 and falling, the gradient vanishes",
    "decay_factor": "the per-step factor of ‖dh_T/dh_t‖ over lags 1-5: below 1 vanishing, above 1 growing",
    "lyapunov_top": "the finite-time top Lyapunov exponent over the sequence: < 0 perturbations shrink by about "
                    "exp(value) per step, > 0 they grow",
    "decay_factor_late": "the same factor over the last fifth of the lags, for sequences of at least "
                         f"{LATE_MIN_WINDOW} steps (blank for shorter ones)",
    "dhT_dh1": "‖dh_T/dh_1‖: the last state against the first, the whole sequence back",
    "jac_sigma_max": "the largest singular value of the one-step Jacobian dh_{t+1}/dh_t over steps and sequences",
    "jac_sigma_min": "the smallest; below float32's resolution relative to the largest it is round-off or an exact "
                     "zero, shown as < 1.2e-7 σ_max",
}


@dataclass
class Diagnosis:
    """The gradient diagnostics of a model's recurrent layers on one batch.

    ``layers``: a row per recurrent layer (a ``Bidirectional`` gives two:
    ``name.forward`` and ``name.backward``), with its through-time summary.
    ``probes``: per layer and lag, ``dL_dx`` and ``dhT_dht`` and the one-step
    Jacobian's spectrum. ``gradients``: the loss gradient's norm per weight
    group. ``gates``: mean gate activations of the cells whose gates the zoo knows.
    """

    model: str
    loss: float
    layers: pd.DataFrame
    probes: pd.DataFrame
    gradients: pd.DataFrame
    gates: pd.DataFrame
    histograms: dict = field(default_factory=dict, repr=False)  # weight group -> gradient values
    # The registered probes' tables (``zoo.probes``), by probe name: a row per layer and lag (or step).
    probe_tables: dict = field(default_factory=dict, repr=False)
    notes: list = field(default_factory=list)  # a line per probe and layer it does not apply to, and why

    @classmethod
    def from_measured(cls, model_name: str, measured: dict) -> "Diagnosis":
        probes = pd.DataFrame(measured["probes"])
        layers = pd.DataFrame(measured["layers"])
        summary = []
        for name in layers.layer:
            p = probes[probes.layer == name]
            first = p.iloc[0]
            lags, norms = p.lag.to_numpy(), p.dhT_dht.to_numpy()
            summary.append({
                "decay_factor": decay_factor(lags, norms),
                "decay_factor_late": late_decay_factor(lags, norms),
                "dhT_dh1": float(norms[-2]) if len(norms) > 1 else math.nan,
                "lyapunov_top": first.get("lyapunov_top", math.nan),
                "jac_sigma_max": first.get("jac_sigma_max", math.nan),
                "jac_sigma_min": first.get("jac_sigma_min", math.nan),
            })
        layers = pd.concat([layers, pd.DataFrame(summary, index=layers.index)], axis=1)
        gates = pd.DataFrame(measured["gates"], columns=["layer", "gate", "mean"])
        tables = {name: pd.DataFrame(rows) for name, rows in measured.get("probe_tables", {}).items()}
        return cls(model_name, measured["loss"], layers, probes, pd.DataFrame(measured["gradients"]), gates,
                   measured.get("histograms", {}), tables, list(measured.get("notes", [])))

    @property
    def time_profile(self) -> pd.DataFrame:
        """The recurrent gradient's time profile (the registered probe ``grad_time_profile``): per
        layer and lag k, ``term_norm`` ‖dL/dW_rec|_{T-1-k}‖, ``share_from`` the share of Σ_t ‖dL/dW_rec|_t‖
        from k or more steps back, ``tail_ratio`` ‖Σ_{lag ≥ k} term‖ / ‖dL/dW_rec‖. Layers it does
        not apply to have no rows, and a line in ``notes``."""
        return self.probe_tables.get("grad_time_profile", pd.DataFrame(
            columns=["layer", "lag", "term_norm", "share_from", "tail_ratio"]))

    def __repr__(self) -> str:
        return (f"Diagnosis(model={self.model!r}, loss={self.loss:.4g}, layers={list(self.layers.layer)}, "
                f"weight groups={len(self.gradients)})")

    # -- figures (matplotlib Figures, not shown; a notebook displays them)
    def plot_gradient_by_lag(self) -> Figure:
        """‖dh_T/dh_t‖ and RMS dL/dx_t against lag, a line per recurrent layer, log scale."""
        fig = Figure(figsize=(11, 4), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, column, label in ((axes[0], "dhT_dht", "‖dh_T/dh_t‖ (Frobenius, batch mean)"),
                                  (axes[1], "dL_dx", "RMS ‖dL/dx_t‖ over the batch")):
            for name, rows in self.probes.groupby("layer", sort=False):
                data = rows[["lag", column]].dropna()
                data = data[data[column] > 0]
                if len(data):
                    ax.plot(data.lag, data[column], marker="o", ms=3, label=name)
            ax.set_yscale("log")
            ax.set_xlabel("lag T − t (real steps before the layer's last)")
            ax.set_ylabel(label + " (log)")
            ax.set_title("through the layer's state" if column == "dhT_dht" else "at the layer's input")
            ax.legend(fontsize=8, title="layer", title_fontsize=8)
        fig.suptitle(f"{self.model}: gradients through time by layer")
        return fig

    def plot_gradient_norms(self) -> Figure:
        """The loss gradient's norm per weight group: a point each on a log axis (a bar's length on a log
        axis depends on where the axis ends, so it would mislead); a zero norm is written, not drawn."""
        g = self.gradients
        fig = Figure(figsize=(8, 0.35 * len(g) + 1.5), layout="constrained")
        ax = fig.subplots()
        norms, groups = g.norm.to_numpy(float)[::-1], list(g.group[::-1])
        drawn = np.isfinite(norms) & (norms > 0)
        rows = np.arange(len(groups))
        ax.plot(norms[drawn], rows[drawn], "o", color="tab:blue")
        for row in rows[~drawn]:
            ax.annotate("0 (no gradient)" if norms[row] == 0 else str(norms[row]), (0.01, row),
                        xycoords=("axes fraction", "data"), va="center", color="0.4")
        ax.set_yticks(rows, groups)
        ax.set_ylim(-0.6, len(groups) - 0.4)
        ax.grid(axis="x", which="major", alpha=0.3)
        if drawn.any():
            ax.set_xscale("log")
        ax.set_xlabel("‖dL/dW‖ of the batch's mean loss" + (" (log)" if drawn.any() else ""))
        ax.set_ylabel("weight group")
        ax.set_title(f"{self.model}: gradient norm per weight group")
        return fig

    def plot_spectrum(self) -> Figure:
        """Per layer: the one-step Jacobian's largest, median and smallest singular value, log scale."""
        fig = Figure(figsize=(8, 4), layout="constrained")
        ax = fig.subplots()
        names = list(self.layers.layer)
        p = self.probes.groupby("layer", sort=False).first()
        for column, marker, label in (("jac_sigma_max", "^", "σ max"), ("jac_sigma_median", "o", "σ median"),
                                      ("jac_sigma_min", "v", "σ min")):
            values = [max(float(p.loc[n, column]), 1e-30) for n in names]
            ax.scatter(range(len(names)), values, marker=marker, label=label, s=40)
        ax.axhline(1.0, color="0.5", ls="--", lw=1, label="σ = 1")
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_yscale("log")
        ax.set_xlabel("recurrent layer")
        ax.set_ylabel(r"singular value of $\partial h_{t+1}/\partial h_t$ (log)")
        ax.set_title(f"{self.model}: one-step Jacobian spectrum")
        ax.legend(fontsize=8)
        return fig

    def plot_gates(self) -> Figure:
        """Mean gate activations per layer (cells whose gates the zoo knows)."""
        fig = Figure(figsize=(8, 3.5), layout="constrained")
        ax = fig.subplots()
        if self.gates.empty:
            ax.text(0.5, 0.5, "no layer with gates the zoo knows", ha="center", va="center", transform=ax.transAxes)
            ax.set(xticks=[], yticks=[])
            return fig
        table = self.gates.pivot(index="layer", columns="gate", values="mean")
        width = 0.8 / len(table.columns)
        for i, gate in enumerate(table.columns):
            ax.bar(np.arange(len(table)) + i * width, table[gate], width, label=gate)
        ax.set_xticks(np.arange(len(table)) + 0.4 - width / 2, table.index, rotation=20, ha="right")
        ax.set_ylim(0, 1)
        ax.set_xlabel("recurrent layer")
        ax.set_ylabel("mean activation over batch, units, steps")
        ax.set_title(f"{self.model}: gate activity")
        ax.legend(fontsize=8, ncol=4)
        return fig

    def plot_time_profile(self) -> Figure:
        """The recurrent gradient's time profile by layer: the share of Σ_t ‖dL/dW_rec|_t‖ from k or
        more steps back, and each step's term ‖dL/dW_rec|_{T-1-k}‖ (log)."""
        fig = Figure(figsize=(11, 4), layout="constrained")
        axes = fig.subplots(1, 2)
        for name, rows in self.time_profile.groupby("layer", sort=False):
            axes[0].plot(rows.lag, rows.share_from, marker="o", ms=3, label=name)
            terms = rows[rows.term_norm > 0]
            axes[1].plot(terms.lag, terms.term_norm, marker="o", ms=3, label=name)
        axes[0].set_ylim(0, 1.02)
        axes[0].set_ylabel("share of Σ_t ‖dL/dW_rec|_t‖ from lags ≥ k")
        axes[0].set_title("where the recurrent gradient comes from")
        axes[1].set_yscale("log")
        axes[1].set_ylabel("‖dL/dW_rec|_t‖ of the step k back (log)")
        axes[1].set_title("each step's term")
        for ax in axes:
            ax.set_xlabel("k: steps back from the layer's last step")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, title="layer", title_fontsize=8)
        fig.suptitle(f"{self.model}: the recurrent gradient's time profile (Pascanu et al. 2013, eq. 4)")
        return fig

    # -- the HTML report
    def report(self, folder) -> Path:
        """Write ``folder/index.html`` (figures inlined), the tables as CSV and the figures as PNG.

        The folder appears whole, and only replaces a folder an earlier
        ``report`` wrote: a folder holding other files is refused before any work.
        """
        folder = Path(check_report_folder(folder))
        figures = {"gradient_by_lag": self.plot_gradient_by_lag(), "gradient_norms": self.plot_gradient_norms(),
                   "spectrum": self.plot_spectrum()}
        if not self.gates.empty:
            figures["gates"] = self.plot_gates()
        if not self.time_profile.empty:
            figures["time_profile"] = self.plot_time_profile()
        tables = {"layers": self.layers, "probes": self.probes, "gradients": self.gradients, "gates": self.gates,
                  **{f"probe_{name}": table for name, table in self.probe_tables.items()}}
        with atomic_folder(folder) as tmp:
            written = []
            for name, fig in figures.items():
                fig.savefig(tmp / f"{name}.png", dpi=110)
                written.append(f"{name}.png")
            for name, table in tables.items():
                write_bytes(tmp / f"{name}.csv", table.to_csv(index=False).encode())
                written.append(f"{name}.csv")
            write_bytes(tmp / "index.html", self._html(tmp, list(figures)).encode())
            written.append("index.html")
            write_bytes(tmp / MANIFEST, json.dumps({"files": written}).encode())
        return folder

    def _html(self, tmp: Path, figures: list[str]) -> str:
        shown = self.layers.copy()
        for column in shown.columns:
            if shown[column].dtype.kind == "f" and column != "jac_sigma_min":
                shown[column] = shown[column].map(lambda v: "" if not np.isfinite(v) else f"{v:.3g}")
        if "jac_sigma_min" in shown:  # as the zoo's report shows it: no round-off printed as a value
            shown["jac_sigma_min"] = [
                "" if not (np.isfinite(lo) and np.isfinite(hi)) else sigma_min_text(lo, hi, digits=3)
                for lo, hi in zip(self.layers.jac_sigma_min, self.layers.jac_sigma_max)]
        meanings = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in MEANINGS.items())
        parts = [
            f"<h1>rnn-zoo: diagnosis of {html.escape(self.model)}</h1>",
            f"<p>Loss on the diagnosed batch: {self.loss:.4g}.</p>",
            "<h2>Recurrent layers</h2>", pages.frame_table(shown), f"<ul>{meanings}</ul>",
            *([f"<ul>{''.join(f'<li>{html.escape(n)}</li>' for n in self.notes)}</ul>"] if self.notes else []),
            *[pages.figure(tmp / f"{name}.png") for name in figures],
            "<h2>Gradient norm per weight group</h2>", pages.frame_table(self.gradients),
        ]
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>rnn-zoo diagnosis</title>'
                f"<style>{pages.STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def check_report_folder(folder) -> Path:
    """A report folder that is new, empty, or an earlier diagnosis report: else one line, nothing written."""
    if not isinstance(folder, (str, Path)) or not str(folder).strip() or "\0" in str(folder):
        raise ConfigError(f"folder = {show(folder)}: expected a folder path")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"folder = {show(str(folder))} is a file; expected a folder (new, empty or an earlier "
                          "diagnosis report)")
    if folder.is_dir():
        try:
            ours = set(json.loads((folder / MANIFEST).read_text())["files"]) | {MANIFEST}
        except (OSError, ValueError, KeyError, TypeError):
            ours = {MANIFEST}
        foreign = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir())
        foreign = [p for p in foreign if p not in ours]
        if foreign:
            raise ConfigError(f"folder = {show(str(folder))} holds files that no rnn-zoo report wrote "
                              f"({show(foreign[0])}); the report replaces its whole folder, so choose a new or "
                              "empty one")
    return folder
