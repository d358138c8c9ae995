"""The default grid is unchanged by tasks: the same run settings, and it trains to the same numbers."""

import hashlib
import json

import pytest

from zoo.core.config import RunConfig, TaskConfig, TrainConfig
from zoo.core.grid import expand
from zoo.core.loading import load_grid

# sha1 over the 36 default runs' settings (their config.json without the code
# fingerprints), computed before tasks existed (commit 9c1f8d8).
DEFAULT_SETTINGS_SHA1 = "3d0652210cdc8bb42fa9ce6e5ed8078f44d0487a"

TINY = TaskConfig(train_stop=3.0, train_points=300, test_start=100.0, test_stop=106.0, test_points=60)
# Training loss, test MSE per epoch and the last probe, recorded at commit 9c1f8d8 (before tasks) for
# RunConfig(cell, mode, seed=1, units=8, TINY, TrainConfig(epochs=3, batch_size=32)).
BEFORE = {
    ("gru", "many_to_one"): dict(
        loss=[0.5514705181121826, 0.43002915382385254, 0.3089901804924011],
        test_mse=[0.36230260133743286, 0.305156946182251, 0.2650426924228668],
        last_probe=(3, 5, None, 0.23331889510154724), last_gate=(3, "update", 0.4954732060432434),
        predictions=[0.11098641157150269, 0.15061786770820618, 0.19086046516895294]),
    ("lstm", "many_to_many"): dict(
        loss=[0.7133303880691528, 0.6487327218055725, 0.578708291053772],
        test_mse=[0.5852190256118774, 0.5467576384544373, 0.5107844471931458],
        last_probe=(3, 5, None, 0.8666971921920776), last_gate=(3, "output", 0.512490451335907),
        predictions=[0.05408556014299393, 0.07388360053300858, 0.09003795683383942]),
    ("simple_rnn", "one_to_many"): dict(
        loss=[1.1464306116104126, 0.9025918841362, 0.6514807939529419],
        test_mse=[1.584571123123169, 1.2168880701065063, 0.9314874410629272],
        last_probe=(3, 4, 0.3926578164100647, None), last_gate=None,
        predictions=[-0.02904352732002735, -0.21971964836120605, -0.1492016315460205]),
}

# The numbers above were recorded on one host with one set of libraries; another
# XLA may fuse or reorder float32 operations, so each result may differ in its
# last bits. How far such one-ulp differences travel was measured: moving every
# initial weight of these three runs by one ulp (np.nextafter) moved their losses,
# test MSEs, predictions and probes by at most 2.1e-6 relative after 3 epochs.
# 1e-4 leaves 50x room for that, while a real change (another seed, batch order,
# step or operation) moves them by far more.
GOLDEN_REL = 1e-4


def test_default_grid_runs_have_the_settings_they_had_before_tasks():
    runs = expand(load_grid("default"))
    assert len(runs) == 36 and {r.task_name for r in runs} == {"sine"}
    blobs = []
    for r in runs:
        d = r.to_dict()
        assert dict(r.code).keys() == {"cell", "mode", "task"}  # ids change with the code, as always
        d.pop("code")
        # Every task is stored with its name now (the sine's table once had none): the settings are those of before.
        assert d["task"].pop("name") == "sine" and "steps" not in d["train"]
        blobs.append(json.dumps(d, sort_keys=True))
    assert hashlib.sha1("\n".join(blobs).encode()).hexdigest() == DEFAULT_SETTINGS_SHA1


@pytest.mark.parametrize("cell,mode", list(BEFORE))
def test_the_sine_task_trains_to_the_numbers_it_had_before_tasks(cell, mode):
    from zoo.engine.run import train_run

    result = train_run(RunConfig(cell, mode, 1, 8, TINY, TrainConfig(epochs=3, batch_size=32)))
    before = BEFORE[(cell, mode)]
    assert list(result.history.loss) == pytest.approx(before["loss"], rel=GOLDEN_REL, abs=0)
    assert list(result.history.test_mse) == pytest.approx(before["test_mse"], rel=GOLDEN_REL, abs=0)
    assert list(result.predictions.prediction[:3]) == pytest.approx(before["predictions"], rel=GOLDEN_REL)
    epoch, lag, dl_dx, dh = before["last_probe"]
    last = result.probes[result.probes.epoch == epoch].iloc[-1]
    assert last.lag == lag
    for got, want in ((last.dL_dx, dl_dx), (last.dhT_dht, dh)):
        assert (want is None and got != got) or got == pytest.approx(want, rel=GOLDEN_REL)
    if before["last_gate"]:
        assert tuple(result.gates.iloc[-1][["epoch", "gate"]]) == before["last_gate"][:2]
        assert result.gates.iloc[-1]["mean"] == pytest.approx(before["last_gate"][2], rel=GOLDEN_REL)
    assert 0 in set(result.probes.epoch)  # new: a probe at initialisation, which changes no training number
