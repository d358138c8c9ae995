"""The report's figures as a person reads them: one colour per cell in every figure, a readable
shape whatever the number of cells and modes, titles that promise no interval one seed cannot
give, and text on the gradient-through-time figure that its data bears out.

Built from hand-made frames (no training), and once from the shared tiny grid's stored runs
(``tiny_runs``) with the figures caught as the report saves them."""

import math

import matplotlib.colors
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from zoo import report
from zoo.core.colors import cell_colors, shared_cells
from zoo.probes.gates import summarize as gates
from zoo.probes.grad_time_profile import summarize as time_profile
from zoo.report import plots, through_time_plots, training_plots

CELLS = ["cornn", "gru", "indrnn", "irnn", "lem", "lru", "lstm", "mgu", "mingru", "minlstm", "rglru",
         "seed_gru", "simple_rnn", "simple_rnn_rho2", "slstm"]
MODES = ["many_to_one", "many_to_many", "one_to_many", "one_to_one"]


def _epochs(cells, modes=MODES, seeds=(0,)) -> pd.DataFrame:
    rows = [dict(run_id=f"{c}-{m}-{s}", cell=c, mode=m, seed=s, epoch=e, loss=1.0 / e + 0.01 * s,
                 grad_norm_mean=1.0 + 0.1 * s, grad_norm_max=2.0)
            for c in cells for m in modes for s in seeds for e in (1, 2, 3)]
    return pd.DataFrame(rows)


def _summary(cells, modes=MODES, seeds=1) -> pd.DataFrame:
    rows = [dict(cell=c, mode=m, seeds=seeds, ok=seeds, test_mae=0.1 + 0.01 * i, params=100 + i, units=8,
                 test_mae_ci95=0.02 if seeds > 1 else math.nan)
            for i, c in enumerate(cells) for m in modes]
    return pd.DataFrame(rows)


def _probes(sizes: dict, modes=("many_to_one",), window=None) -> pd.DataFrame:
    """dL/dx and ‖dh_T/dh_t‖ by lag; ``sizes`` the state size per cell (lag 0 is √size)."""
    rows = []
    for c, size in sizes.items():
        for m in modes:
            for e in (0, 3):
                for lag in range(4):
                    rows.append(dict(run_id=f"{c}-{m}", cell=c, mode=m, seed=0, epoch=e, lag=lag, dL_dx=0.1 / (lag + 1),
                                     dhT_dht=math.sqrt(size) * 0.8**lag, window=window))
    return pd.DataFrame(rows)


def _figures(cells) -> dict[str, Figure]:
    """Every cell figure of a report, each shown a different part of ``cells`` (as the gates
    figure shows only gated cells), drawn as the report draws them: inside ``shared_cells``."""
    half, odd = cells[: len(cells) // 2 + 1], cells[1::2]
    gate_rows = pd.DataFrame([dict(cell=c, mode="many_to_one", seed=0, epoch=e, gate=g, mean=0.5)
                              for c in half for e in (0, 1) for g in ("carry", "forget")])
    profile = pd.DataFrame([dict(cell=c, mode="many_to_one", seed=0, epoch=e, lag=k, share_from=1 - k / 4)
                            for c in odd for e in (0, 1) for k in range(4)])
    grads = pd.DataFrame([dict(cell=c, mode="many_to_one", seed=0, epoch=e, group=f"rnn.{k}", norm_mean=0.1)
                          for c in cells[2:] for e in (1, 2) for k in training_plots.GROUP_KINDS[:2]])
    preds = pd.DataFrame([dict(cell=c, mode="many_to_one", seed=0, index=i, offset=1, truth=0.0, prediction=0.1)
                          for c in cells[::3] for i in range(5)])
    with shared_cells(cells):
        return {
            "loss_curves": training_plots.loss_curves(_epochs(cells)),
            "gradient_norms": training_plots.gradient_norms(_epochs(cells[3:])),
            "test_mae": training_plots.test_mae_points(_summary(cells[:-2])),
            "params_vs_mae": training_plots.params_vs_mae(_summary(cells[4:])),
            "gradient_by_lag": through_time_plots.gradient_by_lag(_probes(dict.fromkeys(cells[1:], 64))),
            "decay_by_window": through_time_plots.decay_by_window(_probes(dict.fromkeys(odd, 64), window=5)),
            "weight_groups": training_plots.weight_groups(grads),
            "predictions": training_plots.predictions(preds),
            "probe_gates": gates.figure(gate_rows),
            "probe_grad_time_profile": time_profile.figure(profile),
        }


def _colors_of(handle) -> set[str]:
    """The colours an artist that stands for a cell is drawn in: a line's, each bar's face."""
    if isinstance(handle, ErrorbarContainer):
        handle = handle.lines[0]
    if isinstance(handle, BarContainer):
        return {matplotlib.colors.to_hex(bar.get_facecolor()) for bar in handle.patches}
    if isinstance(handle, Line2D):
        return {matplotlib.colors.to_hex(handle.get_color())}
    return {matplotlib.colors.to_hex(handle.get_facecolor())}


def drawn_colors(fig: Figure, cells) -> dict[str, str]:
    """The colour each cell is drawn in, read off the figure's labelled artists (lines, bars,
    error bars, and its legends' handles); a cell drawn in two colours in one figure fails here."""
    found: dict[str, set] = {}
    pairs = [p for ax in fig.axes for p in zip(*ax.get_legend_handles_labels())]
    pairs += [(h, t.get_text()) for legend in fig.legends for h, t in zip(legend.legend_handles, legend.texts)]
    for handle, label in pairs:
        cell = label.split(" (")[0]  # params_vs_mae: "gru (equal units)"
        if cell in cells:
            found.setdefault(cell, set()).update(_colors_of(handle))
    assert all(len(c) == 1 for c in found.values()), {k: v for k, v in found.items() if len(v) > 1}
    return {cell: colors.pop() for cell, colors in found.items()}


@pytest.fixture(scope="module")
def figure_colors():
    return {name: drawn_colors(fig, CELLS) for name, fig in _figures(CELLS).items()}


@pytest.mark.parametrize("cell", CELLS)
def test_a_cell_has_one_colour_in_every_figure(figure_colors, cell):
    seen = {name: colors[cell] for name, colors in figure_colors.items() if cell in colors}
    assert len(seen) >= 3, seen  # drawn in several figures, each of a different set of cells
    assert len(set(seen.values())) == 1, seen
    with shared_cells(CELLS):
        assert set(seen.values()) == {matplotlib.colors.to_hex(cell_colors([cell])[cell])}


def test_no_two_cells_of_a_report_share_a_colour(figure_colors):
    loss = figure_colors["loss_curves"]
    assert len(loss) == len(CELLS) and len(set(loss.values())) == len(CELLS)


@pytest.mark.exhaustive
def test_the_report_draws_every_figure_from_all_its_cells(tiny_runs, tmp_path, monkeypatch):
    """The report itself: each figure it saves is drawn inside ``shared_cells`` of the report's
    cells, and reads as the data says (2 seeds: bands; one_to_many: a state through time)."""
    grid, runs = tiny_runs
    saved = {}
    original = Figure.savefig

    def catch(fig, path, *args, **kwargs):
        shared = {c: matplotlib.colors.to_hex(v) for c, v in cell_colors([]).items()}  # all the report's cells
        saved[str(path).rsplit("/", 1)[-1]] = (fig, shared)
        return original(fig, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", catch)
    report.build(runs, tmp_path / "reports", compared=grid.name)
    assert {"loss_curves.png", "gradient_by_lag.png", "probe_gates.png"} <= set(saved)
    for name, (fig, shared) in saved.items():
        assert set(shared) >= set(grid.cells), name
        drawn = drawn_colors(fig, grid.cells)
        assert drawn == {c: shared[c] for c in drawn}, name
    loss = saved["loss_curves.png"][0]
    assert "band = min..max over seeds" in loss._suptitle.get_text()
    by_lag = saved["gradient_by_lag.png"][0]
    texts = " ".join(t.get_text() for ax in by_lag.axes for t in ax.texts)
    assert "one_to_many" in grid.modes and "does run through time" in texts and "no hidden state" not in texts


# ------------------------------------------------------------------------ shape


def _spectrum_summary(cells, modes) -> pd.DataFrame:
    rows = [dict(cell=c, mode=m, ok=1, jac_sigma_max=1.2, jac_sigma_min=1e-9, jac_sigma_median=0.5,
                 jac_sigma_max_first=1.1, jac_sigma_min_first=0.1, lyapunov_top=-0.1, lyapunov_top_first=0.0,
                 decay_factor=0.8, decay_factor_first=0.9, carry=0.6)
            for c in cells for m in modes]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("cells,modes", [(15, 2), (15, 4), (3, 2), (3, 5), (40, 1)])
def test_the_spectrum_keeps_a_readable_shape_whatever_the_cells(cells, modes):
    """A panel per mode (of at most 16 cells: more split), wrapping at 4 a line: never a strip."""
    names, mode_names = [f"cell{i}" for i in range(cells)], [f"mode{i}" for i in range(modes)]
    fig = through_time_plots.jacobian_spectrum(_spectrum_summary(names, mode_names))
    width, height = fig.get_size_inches()
    assert width <= 18 and width / height <= 3.5, (width, height)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len({ax.get_position().x0 for ax in shown}) <= 4
    ticks = [t.get_text() for ax in shown for t in ax.get_xticklabels()]
    assert sorted(ticks) == sorted(names * modes)  # every cell once per mode
    assert all(ax.get_ylabel() for ax in shown if ax.get_subplotspec().colspan.start == 0)


@pytest.mark.parametrize("n", [1, 4, 5, 9, 15])
def test_panels_wrap_at_four_a_line(n):
    fig, axes = plots.panels(range(n), rows=2, sharey=True)
    assert axes.shape == (2, n) and len({id(a) for a in axes.ravel()}) == 2 * n
    assert sum(ax.get_visible() for ax in fig.axes) == 2 * n
    assert max(ax.get_subplotspec().colspan.start for ax in axes.ravel()) <= 3
    width, height = fig.get_size_inches()
    assert width <= 4 * 4.2 and height == pytest.approx(3.4 * 2 * -(-n // 4))


def test_a_wrapped_figure_labels_each_line():
    modes = [f"mode{i}" for i in range(6)]
    fig = training_plots.loss_curves(_epochs(["gru", "lstm"], modes))
    firsts = [ax for ax in fig.axes if ax.get_visible() and ax.get_subplotspec().colspan.start == 0]
    assert len(firsts) == 2 and all("training loss" in ax.get_ylabel() for ax in firsts)


# ------------------------------------------------------------------------ seeds


@pytest.mark.parametrize("seeds", [1, 3])
def test_test_mae_title_and_error_bars_say_what_the_seeds_give(seeds):
    fig = training_plots.test_mae_points(_summary(["gru", "lstm"], seeds=seeds))
    ax = fig.axes[0]
    errorbars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    if seeds == 1:
        assert "one seed: no interval" in ax.get_title() and "95%" not in ax.get_title()
        assert not errorbars  # no empty caps
    else:
        assert "95% t-interval" in ax.get_title() and errorbars


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_loss_curves_promise_a_band_only_where_they_draw_one(seeds):
    fig = training_plots.loss_curves(_epochs(["gru", "lstm"], seeds=seeds))
    title = fig._suptitle.get_text()
    bands = [c for ax in fig.axes for c in ax.collections]
    if len(seeds) == 1:
        assert "one seed: no band" in title and "min..max" not in title and not bands
    else:
        assert "mean over 3 seeds, band = min..max over seeds" in title and bands


def test_params_vs_mae_draws_no_zero_width_caps_for_one_seed():
    fig = training_plots.params_vs_mae(_summary(["gru", "lstm"], seeds=1))
    assert "one seed: no interval" in fig._suptitle.get_text()
    assert all(not c.has_yerr for ax in fig.axes for c in ax.containers if isinstance(c, ErrorbarContainer))


# ------------------------------------------------------------- gradient through time


def test_a_mode_whose_state_runs_after_one_input_step_is_not_said_to_have_none():
    """one_to_many reads one step, then its state runs over steps of its own: its runs hold no
    ‖dh_T/dh_t‖ (measured along input steps) but a gradient time profile and a recurrent
    gradient; one_to_one's recurrent kernels get exactly none. Told apart by the data alone."""
    probes = _probes({"gru": 64, "lstm": 128}, modes=("many_to_one",))
    one_step = _probes({"gru": 64, "lstm": 128}, modes=("later_steps", "single_step")).assign(dhT_dht=np.nan)
    summary = pd.DataFrame([
        dict(cell=c, mode=m, recurrent_share=share, share_from_1=profile)
        for c in ("gru", "lstm")
        for m, share, profile in (("many_to_one", 0.2, 0.5), ("later_steps", 0.2, 0.7), ("single_step", 0.0, np.nan))
    ])
    fig = through_time_plots.gradient_by_lag(pd.concat([probes, one_step]), summary)
    notes = {ax.get_title(): " ".join(t.get_text() for t in ax.texts) for ax in fig.axes}
    assert "does run through time" in notes["later_steps: through time"]
    assert "70%" in notes["later_steps: through time"]
    assert "No state through time" in notes["single_step: through time"]
    assert "does run" not in notes["single_step: through time"]


def test_a_single_step_mode_where_declared_recurrent_weights_get_gradient_is_not_said_to_run_through_time():
    """one_to_one: LEM's z_kernel and RG-LRU's a act within one step from the zero state, so their
    cells' recurrent share is above 0 there while every kernel reading the old state gets none."""
    probes = _probes({"gru": 64, "lem": 128}, modes=("many_to_one",))
    one_step = _probes({"gru": 64, "lem": 128}, modes=("single_step",)).assign(dhT_dht=np.nan)
    summary = pd.DataFrame([dict(cell="gru", mode="single_step", recurrent_share=0.0, share_from_1=np.nan),
                            dict(cell="lem", mode="single_step", recurrent_share=0.04, share_from_1=np.nan)])
    fig = through_time_plots.gradient_by_lag(pd.concat([probes, one_step]), summary)
    notes = {ax.get_title(): " ".join(t.get_text() for t in ax.texts) for ax in fig.axes}
    note = notes["single_step: through time"].replace("\n", " ")
    assert "does run through time" not in note and "up to 4% of the gradient norm in lem only" in note


def test_the_profile_span_of_a_decoder_mode_leaves_out_cells_without_own_recurrent_weights():
    probes = _probes({"gru": 64, "cornn": 128}, modes=("many_to_one",))
    later = _probes({"gru": 64, "cornn": 128}, modes=("later_steps",)).assign(dhT_dht=np.nan)
    summary = pd.DataFrame([
        dict(cell="gru", mode="later_steps", recurrent_share=0.2, share_from_1=0.55, own_recurrent_weights=1.0),
        dict(cell="cornn", mode="later_steps", recurrent_share=np.nan, share_from_1=0.94, own_recurrent_weights=0.0),
    ])
    fig = through_time_plots.gradient_by_lag(pd.concat([probes, later]), summary)
    notes = {ax.get_title(): " ".join(t.get_text() for t in ax.texts) for ax in fig.axes}
    note = notes["later_steps: through time"].replace("\n", " ")
    assert "55% of its recurrent gradient" in note and "94%" not in note


def test_the_state_size_caption_names_no_cell_kind():
    caption = through_time_plots._state_size_caption(_probes({"gru": 64, "slstm": 256, "lstm": 128}))
    assert "√64 = 8: gru" in caption and "√128 = 11.3: lstm" in caption and "√256 = 16: slstm" in caption
    assert "LSTM" not in caption and "h and c" not in caption
    with_units = through_time_plots._state_size_caption(
        _probes({"gru": 64, "slstm": 256}), pd.DataFrame({"cell": ["gru", "slstm"], "units": [64, 64]}))
    assert "√256 = 16 (256 = 4 × 64 units): slstm" in with_units and "more than h" in with_units


def test_three_seeds_of_which_at_most_one_finished_are_not_called_one_seed():
    summary = _summary(["gru", "lstm"], seeds=3).assign(ok=1, test_mae_ci95=math.nan)  # two diverged in each
    title = training_plots.test_mae_points(summary).axes[0].get_title()
    assert "at most one ok run per bar: no interval" in title and "one seed" not in title


@pytest.mark.parametrize(("seeds_of", "said"), [
    ({"gru": (0,), "lstm": (0,)}, "one seed"),
    ({"gru": (0, 1, 2), "lstm": (0, 1, 2)}, "mean over 3 seeds"),
    ({"gru": (0, 1, 2), "lstm": (0,)}, "mean over seeds (one on some lines)"),
])
def test_gradient_by_lag_title_counts_seeds_per_line(seeds_of, said):
    # Counted per cell and mode: one cell's three seeds do not make the other's single line a mean.
    probes = pd.concat([_probes({cell: 16}).assign(seed=s, run_id=f"{cell}-{s}")
                        for cell, seeds in seeds_of.items() for s in seeds])
    title = through_time_plots.gradient_by_lag(probes)._suptitle.get_text()
    assert title.endswith(said)


@pytest.mark.parametrize(("ok", "said"), [((1, 1), "(one seed; σ range over steps and sequences)"),
                                          ((3, 3), "(mean over 3 seeds; σ range over steps, sequences and seeds)"),
                                          ((3, 1), "(mean over seeds (one on some lines); σ range")])
def test_the_spectrum_title_counts_the_ok_seeds_of_each_cell(ok, said):
    summary = _spectrum_summary(["gru", "lstm"], ["many_to_one"]).assign(ok=list(ok))
    assert said in through_time_plots.jacobian_spectrum(summary)._suptitle.get_text()


@pytest.mark.parametrize(("losses", "label"), [
    (("mse",), "training loss (MSE, log scale)"),
    (("mse", "mean_squared_error"), "training loss (MSE, log scale)"),  # a user's fit names it Keras's way
    (("mae", "mse"), "training loss (each task's own: MAE, MSE; log scale)"),
    ((), "training loss (log scale)"),
])
def test_the_loss_axis_names_the_loss_the_runs_trained_with(losses, label):
    fig = training_plots.loss_curves(_epochs(["gru"], modes=["many_to_one"]), losses)
    assert fig.axes[0].get_ylabel() == label


def test_the_time_profile_title_fits_its_figure_with_one_mode():
    profile = pd.DataFrame([dict(cell=c, mode="many_to_one", seed=0, epoch=e, lag=k, share_from=1 - k / 4)
                            for c in ("gru", "lstm") for e in (0, 1) for k in range(4)])
    fig = time_profile.figure(profile)
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    title = fig._suptitle.get_window_extent(renderer)
    assert 0 <= title.x0 and title.x1 <= fig.bbox.width  # not cut at either edge
    legend = fig.legends[0].get_window_extent(renderer)
    assert not title.overlaps(legend)


def test_epoch_axes_tick_whole_epochs_and_the_weight_groups_title_names_only_modes_with_a_decoder():
    grads = pd.DataFrame([dict(cell="gru", mode="many_to_one", seed=0, epoch=e, group=f"rnn.{k}", norm_mean=0.1)
                          for e in (1, 2, 3, 4) for k in training_plots.GROUP_KINDS])
    figures = [training_plots.loss_curves(_epochs(["gru"], modes=["many_to_one"])),
               training_plots.gradient_norms(_epochs(["gru"], modes=["many_to_one"])),
               training_plots.weight_groups(grads)]
    for fig in figures:
        for ax in fig.axes:
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert "decoder" not in figures[2]._suptitle.get_text()
    decoder = grads.assign(mode="many_to_many", group=grads.group.str.replace("rnn", "decoder"))
    title = training_plots.weight_groups(pd.concat([grads, decoder]))._suptitle.get_text()
    assert "many_to_many: encoder solid, decoder dashed" in title


def test_a_weight_group_panel_says_whose_zeros_its_log_axis_drops():
    grads = pd.DataFrame([dict(cell=c, mode="one_to_one", seed=0, epoch=e, group="rnn.recurrent_kernel",
                               norm_mean=0.01 if c == "lem" else 0.0)
                          for c in ("lem", "gru", "lstm") for e in (1, 2)])
    fig = training_plots.weight_groups(grads)
    (ax,) = [a for a in fig.axes if a.get_title() == "one_to_one: recurrent weights"]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.texts] == ["exactly 0 (off the log axis): gru, lstm"]


def test_the_gates_title_explains_carry_only_for_the_cells_it_draws():
    def rows(cells):
        return pd.DataFrame([dict(cell=c, mode="many_to_one", seed=0, epoch=e, gate="carry", mean=0.5)
                             for c in cells for e in (0, 1)])

    title = gates.figure(rows(["gru", "lstm"]))._suptitle.get_text()
    assert title.endswith("carry = gru's z (Keras's GRU), lstm's forget f")
    title = gates.figure(rows(["my_model.lstm"]))._suptitle.get_text()  # a user's model: no built-in's names
    assert title.endswith("carry = the share of the old state a step keeps") and "GRU" not in title


def test_test_mae_is_drawn_as_points_at_the_means_not_bars_on_a_log_axis():
    """A bar on a log axis starts where the axis happens to end, so its height misleads: a point per
    cell and mode, at its mean."""
    summary = _summary(["gru", "lstm"])
    ax = training_plots.test_mae_points(summary).axes[0]
    assert not [c for c in ax.containers if isinstance(c, BarContainer)] and ax.get_yscale() == "log"
    drawn = {line.get_label(): list(line.get_ydata())
             for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert drawn == {cell: list(summary[summary.cell == cell].test_mae) for cell in ("gru", "lstm")}


def test_a_diagnosis_draws_each_groups_gradient_norm_as_a_point_and_writes_a_zero():
    from types import SimpleNamespace

    from zoo.report.diagnosis import Diagnosis

    gradients = pd.DataFrame({"group": ["rnn.kernel", "rnn.recurrent_kernel", "dense.bias"], "norm": [0.5, 0.0, 2.0]})
    ax = Diagnosis.plot_gradient_norms(SimpleNamespace(gradients=gradients, model="m")).axes[0]
    (points,) = ax.get_lines()
    assert list(points.get_xdata()) == [2.0, 0.5] and list(points.get_ydata()) == [0, 2]  # rows drawn bottom up
    assert [t.get_text() for t in ax.texts] == ["0 (no gradient)"] and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["dense.bias", "rnn.recurrent_kernel", "rnn.kernel"]


def test_a_reports_legend_lists_its_cells_by_name_whatever_panel_draws_them_first():
    from zoo.core.colors import figure_legend

    fig = Figure()
    first, second = fig.subplots(1, 2)
    first.plot([0, 1], label="truth")
    first.plot([0, 1], label="gru")  # the LRU has no line in the first panel (no input kernel)
    second.plot([0, 1], label="lru")
    second.plot([0, 1], label="cornn")
    with shared_cells(["cornn", "gru", "lru"]):
        figure_legend(fig, [first, second])
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["truth", "cornn", "gru", "lru"]


@pytest.mark.parametrize("count", [3, 10, 11, 15, 20])
def test_beyond_ten_cells_each_line_and_its_legend_entry_have_a_colour_and_marker_no_other_has(count):
    """Up to ten cells colour alone tells them apart (no markers); beyond, each cell's (colour,
    marker) pair is its own, on its line and in the legend, in every figure of the report."""
    from zoo.core.colors import cell_markers

    cells = [f"cell{i:02d}" for i in range(count)]
    with shared_cells(cells):
        fig = training_plots.loss_curves(_epochs(cells[:2], seeds=(0,)))  # a figure of two of the cells
        markers, colors = cell_markers(cells[:2]), cell_colors(cells[:2])
    assert set(markers) == set(cells)
    pairs = {(matplotlib.colors.to_hex(colors[c]), markers[c]) for c in cells}
    assert len(pairs) == count
    legend = {t.get_text(): h for t, h in zip(fig.legends[0].get_texts(), fig.legends[0].legend_handles)}
    for cell in cells[:2]:
        expected = markers[cell] if count > 10 else "None"
        assert legend[cell].get_marker() == expected
        assert matplotlib.colors.to_hex(legend[cell].get_color()) == matplotlib.colors.to_hex(colors[cell])


def test_beyond_ten_cells_a_line_of_one_point_or_none_finite_is_drawn_and_marked():
    """A cell whose only epoch diverged (a NaN loss) or that has one epoch: the figure still saves,
    and a lone finite point carries its marker (the line alone would draw nothing)."""
    import io

    cells = [f"cell{i:02d}" for i in range(11)]
    epochs = _epochs(cells[:3], seeds=(0,))
    one = epochs[epochs.cell == "cell00"].head(1).assign(loss=math.nan)
    lone = epochs[epochs.cell == "cell01"].head(1)
    epochs = pd.concat([one, lone, epochs[epochs.cell == "cell02"]], ignore_index=True)
    with shared_cells(cells):
        fig = training_plots.loss_curves(epochs)
    fig.savefig(io.BytesIO(), format="png")
    (line,) = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "cell01"]
    assert line.get_marker() not in ("None", "", None) and line.get_markevery() is None
