"""Stored runs -> pandas tables: the per-epoch long table, the summary and the
table of diverged runs.

Pure functions of ``StoredRun`` objects; the numbers in every report come from
here and from ``run_numbers`` (one run's numbers). ``table_text`` writes them
for people. ``epochs_to_threshold``, ``vanish_lag``, ``summary_markdown`` and
``vanish_text`` are re-exported: ``tests/test_report.py`` reads them here.
"""

from __future__ import annotations

import math

import pandas as pd

from zoo import probes as probe_folders
from zoo.core.analysis import mean_ci95  # noqa: F401  (re-exported)
from zoo.core.config import short_name, varying_settings
from zoo.report import probes as probe_report
from zoo.report.run_numbers import divergence_cause, epochs_to_threshold, run_numbers, vanish_lag  # noqa: F401
from zoo.report.table_text import summary_markdown, vanish_text  # noqa: F401  (re-exported)


def long_table(runs, kind: str) -> pd.DataFrame:
    """One stored table (``history``, ``gradients``, ``probes``, ``predictions``) of
    every run, stacked, with columns that say which run a row is from: run id,
    cell, mode, seed, status, and the settings that vary between the runs."""
    axes = varying_settings([r.config for r in runs])
    frames = []
    for r in runs:
        t = getattr(r, kind).copy()
        if r.metrics["status"] == "failed" or t.empty:
            continue
        settings = r.config.settings()
        labels = [("run_id", r.path.name), ("cell", r.config.cell), ("mode", r.config.mode)]
        # A setting named as one of the table's own columns (train.loss beside the history's
        # loss) keeps its full name, so neither overwrites the other.
        labels += [(short_name(a) if short_name(a) not in t.columns else a, settings.get(a)) for a in axes]
        labels += [("seed", r.config.seed), ("status", r.metrics["status"])]
        for i, (k, v) in enumerate(labels):
            t.insert(i, k, v)
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def diverged_table(runs) -> pd.DataFrame:
    """A row per diverged run: when, its peak gradient norm, and why (``divergence_cause``)."""
    axes = varying_settings([r.config for r in runs])
    rows = []
    for r in runs:
        if r.metrics["status"] != "diverged":
            continue
        n = run_numbers(r)
        cause, reason = divergence_cause(n)
        settings = r.config.settings()
        rows.append({
            "run_id": r.path.name, "cell": r.config.cell, "mode": r.config.mode,
            **{short_name(a): settings.get(a) for a in axes}, "seed": r.config.seed,
            "diverged_epoch": n["diverged_epoch"], "diverged_in": r.metrics.get("diverged_in"),
            "peak_grad_norm": n["grad_norm_peak"], "peak_epoch": n["grad_norm_peak_epoch"],
            "recurrent_share": n["recurrent_share"], "probe_epoch": n["cause_epoch"],
            "dh_factor": n["cause_factor"], "dh_growth": n["cause_growth"], "lyapunov_top": n["lyapunov_top"],
            "cause": cause, "reason": reason,
        })
    return pd.DataFrame(rows)


def summary_table(runs) -> pd.DataFrame:
    """One row per cell x mode (x sweep value), over seeds; numbers from ok runs only,
    except the ``*_first`` ones (the first probe, before training went anywhere) and
    the ``diverged_*`` ones, which come from every run that trained.

    Settings that vary between runs, such as the window of a sweep, become
    columns, so each row compares like with like. A run is one member of one
    group, however many arms of the grid resolved to it.
    """
    axes = varying_settings([r.config for r in runs])
    groups: dict[tuple, dict] = {}
    for r in runs:
        settings = r.config.settings()
        key = (r.config.cell, r.config.mode, *(settings.get(a) for a in axes))
        groups.setdefault(key, {})[r.path.name] = r  # by run id: a run counts once
    rows = []
    for (cell, mode, *values), by_id in groups.items():
        members = list(by_id.values())
        status = [m.metrics["status"] for m in members]
        stepped = [m for m in members if m.metrics["status"] != "failed"]
        numbers = pd.DataFrame([run_numbers(m) for m in stepped])
        ok = numbers[numbers.status == "ok"] if len(numbers) else numbers
        bad = numbers[numbers.status == "diverged"] if len(numbers) else numbers
        clipped = sum(int(m.history.clipped_steps.sum()) for m in stepped)
        steps = sum(int(m.history.steps.sum()) for m in stepped)
        row = {
            "cell": cell,
            "mode": mode,
            **{short_name(a): v for a, v in zip(axes, values)},
            "seeds": len(members),
            "ok": status.count("ok"),
            "diverged": status.count("diverged"),
            "failed": status.count("failed"),
            "params": next((m.metrics["params"] for m in members if "params" in m.metrics), math.nan),
        }
        for col in ("loss", "test_mae", "test_mse", "metric_value", "ratio"):
            row[col], row[f"{col}_ci95"] = mean_ci95(ok[col] if len(ok) and col in ok else [])
        # Seeds that solved the task, of those that trained (a diverged run solved nothing), as the
        # memory section counts them; NaN where the task judges no run solved or not.
        judged = pd.to_numeric(numbers.solved, errors="coerce").dropna() if "solved" in numbers else []
        row["solved"] = float(judged.sum()) if len(judged) else math.nan
        row["judged"] = len(judged)
        row["solved_below"] = _mean(numbers, "solved_below")  # one task a row: its one threshold
        row["eval_every"] = _mean(numbers, "eval_every")  # the runs of a row share their budget
        metrics = [m for m in (numbers.metric if "metric" in numbers else []) if isinstance(m, str)]
        row["metric"] = metrics[0] if metrics else math.nan
        known = [a for a in (numbers.state_activation if "state_activation" in numbers else []) if isinstance(a, str)]
        row["state_activation"] = known[0] if known else math.nan  # the cell's, the same in every seed
        averaged = ("test_mae_next", "epochs_to_threshold", "seconds", "grad_norm_final", "grad_norm_peak",
                    "decay_rate", "decay_factor", "decay_factor_late", "lyapunov_top", "recurrent_share",
                    "own_recurrent_weights")
        for col in averaged:
            row[col] = _mean(ok, col)
        # Each registered probe's summary columns, combined over the runs as the probe declares.
        for name in probe_folders.list_probes():
            spec = probe_folders.get_probe(name)
            row.update({c: probe_report.combine(spec, c, ok, numbers) for c in spec.summary})
        # Before training went anywhere: every run that trained, diverged ones too.
        for col in ("decay_factor_first", "lyapunov_top_first"):
            row[col] = _mean(numbers, col)
        row["first_epoch"] = _extreme(numbers, "first_epoch", min)
        row["last_epoch"] = _extreme(ok, "last_epoch", max)
        reached = ok.vanish_lag.dropna() if len(ok) else pd.Series(dtype=float)
        row["vanish_lag"] = float(reached.mean()) if len(reached) else math.nan
        row["vanish_reached"] = len(reached)
        row["max_lag"] = _extreme(ok, "max_lag", max)
        row["clipped_fraction"] = clipped / steps if steps else math.nan
        # A diverged run's largest gradient norm (over its finite steps) and when.
        if len(bad):
            worst = bad.loc[bad.grad_norm_peak.fillna(-1).idxmax()]
            row["diverged_epoch"] = float(bad.diverged_epoch.min())
            row["diverged_peak_norm"], row["diverged_peak_epoch"] = worst.grad_norm_peak, worst.grad_norm_peak_epoch
        else:
            row["diverged_epoch"] = row["diverged_peak_norm"] = row["diverged_peak_epoch"] = math.nan
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    # Modes in the order the grid lists them (the runs come in grid order).
    order = {m: i for i, m in enumerate(dict.fromkeys(r.config.mode for r in runs))}
    table = pd.DataFrame(rows)
    by = ["mode", *(short_name(a) for a in axes), "cell"]
    return table.sort_values(by, key=lambda s: s.map(order) if s.name == "mode" else s, ignore_index=True)


def _mean(frame: pd.DataFrame, col: str) -> float:
    if not len(frame) or col not in frame.columns:
        return math.nan
    v = pd.to_numeric(frame[col], errors="coerce").dropna()
    return float(v.mean()) if len(v) else math.nan


def _extreme(frame: pd.DataFrame, col: str, pick) -> float:
    if not len(frame) or col not in frame.columns:
        return math.nan
    v = pd.to_numeric(frame[col], errors="coerce").dropna()
    return float(pick(v)) if len(v) else math.nan
