"""The device plan: fake device lists for the rules; real detection only where no GPU is assumed."""

import subprocess
import sys
from pathlib import Path

import pytest

from zoo.runs.devices import (
    GPU_MEMORY_SHARE,
    WORKERS_PER_GPU,
    Device,
    DeviceError,
    detect_devices,
    plan_workers,
)

ROOT = Path(__file__).resolve().parents[1]
GB = 10**9
CPU = [Device("cpu", 0)]
ONE_GPU = [Device("gpu", 0, 80 * GB)]
TWO_GPUS = [Device("gpu", 0, 80 * GB), Device("gpu", 1, 80 * GB)]


def _per_gpu_fractions(plan) -> dict[str, float]:
    """Sum of the memory fractions of the workers on each GPU."""
    sums: dict[str, float] = {}
    for i in range(plan.jobs):
        env = plan.env_for(i)
        sums[env["CUDA_VISIBLE_DEVICES"]] = sums.get(env["CUDA_VISIBLE_DEVICES"], 0) + float(
            env["XLA_PYTHON_CLIENT_MEM_FRACTION"]
        )
    return sums


def test_no_gpu_gives_one_cpu_worker_per_core():
    plan = plan_workers(CPU, cores=16)
    assert (plan.device, plan.jobs, plan.batch_seeds) == ("cpu", 16, False)
    assert plan.env_for(3) == {"JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    assert "no GPU" in plan.note and "\n" not in plan.note


def test_one_big_gpu_runs_a_few_workers_sharing_its_memory():
    plan = plan_workers(ONE_GPU, cores=16)
    assert (plan.device, plan.jobs, plan.batch_seeds) == ("gpu", WORKERS_PER_GPU, True)
    for i in range(plan.jobs):
        env = plan.env_for(i)
        assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert env["CUDA_VISIBLE_DEVICES"] == "0"
        assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
        assert env["XLA_CLIENT_MEM_FRACTION"] == ""  # blanked: jaxlib refuses both names set
    assert _per_gpu_fractions(plan)["0"] <= GPU_MEMORY_SHARE <= 0.9
    assert "GPU" in plan.note and "\n" not in plan.note


def test_two_gpus_get_workers_round_robin():
    plan = plan_workers(TWO_GPUS, cores=16)
    assert plan.jobs == 2 * WORKERS_PER_GPU
    assert [plan.env_for(i)["CUDA_VISIBLE_DEVICES"] for i in range(4)] == ["0", "1", "0", "1"]
    sums = _per_gpu_fractions(plan)
    assert set(sums) == {"0", "1"} and all(s <= 0.9 for s in sums.values())


def test_workers_are_capped_by_cores_and_by_small_gpus():
    assert plan_workers(TWO_GPUS, cores=3).jobs == 3
    assert plan_workers([Device("gpu", 0, 2 * 2**30)], cores=16).jobs == 1  # 0.9 * 2 GiB holds one worker


def test_a_gpu_named_by_uuid_is_given_to_workers_by_that_name():
    plan = plan_workers([Device("gpu", 0, None, cuda_id="GPU-abc")], cores=4)
    assert plan.env_for(0)["CUDA_VISIBLE_DEVICES"] == "GPU-abc"


def test_cpu_requested_on_a_gpu_machine_hides_the_gpu():
    plan = plan_workers(ONE_GPU, cores=16, requested_device="cpu")
    assert (plan.device, plan.jobs, plan.batch_seeds) == ("cpu", 16, False)
    assert plan.env_for(0)["CUDA_VISIBLE_DEVICES"] == "" and plan.env_for(0)["JAX_PLATFORMS"] == "cpu"
    assert "hidden" in plan.note


def test_gpu_requested_without_a_gpu_is_a_one_line_error():
    with pytest.raises(DeviceError) as err:
        plan_workers(CPU, cores=16, requested_device="gpu")
    msg = str(err.value)
    assert "\n" not in msg and "no GPU visible to the jax backend" in msg and "auto, cpu" in msg
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("given, meant", [("gpuu", "gpu"), ("cuda", "gpu"), ("CUDA", "gpu"), ("nvidia", "gpu"),
                                          ("host", "cpu"), ("cpus", "cpu"), ("autoo", "auto"), ("cuda:0", "gpu"),
                                          ("gpu:1", "gpu"), ("tpu", None)])
def test_a_misspelt_device_names_the_nearest_choice(given, meant):
    """By spelling, or by meaning where the name is another one for a device (cuda: spelt like cpu, means gpu)."""
    with pytest.raises(DeviceError) as err:
        plan_workers(ONE_GPU, cores=16, requested_device=given)
    msg = str(err.value)
    assert (f"did you mean {meant!r}" in msg if meant else "did you mean" not in msg)  # a TPU is not a GPU
    assert "auto, cpu, gpu" in msg and "\n" not in msg


@pytest.mark.parametrize("devices", [CPU, TWO_GPUS], ids=["cpu", "gpu"])
def test_jobs_override_the_default(devices):
    plan = plan_workers(devices, cores=16, requested_jobs=5)
    assert plan.jobs == 5 and "--jobs" in plan.note
    if plan.device == "gpu":  # 3 on one GPU, 2 on the other: the busiest stays within its share
        assert all(s <= 0.9 for s in _per_gpu_fractions(plan).values())


def test_jobs_below_one_are_refused():
    with pytest.raises(DeviceError, match="--jobs = 0"):
        plan_workers(CPU, cores=16, requested_jobs=0)


def test_a_backend_that_lists_only_its_cpu_is_planned_on_the_cpu(monkeypatch):
    # The device list is faked (what the probe prints where JAX sees no GPU), so
    # the test means the same on a GPU machine; real detection is the next test.
    fake = subprocess.CompletedProcess([], 0, stdout='[{"kind": "cpu", "memory": null}]\n', stderr="")
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: fake)
    devices = detect_devices("jax")
    assert devices == [Device("cpu", 0)]
    plan = plan_workers(devices, cores=4)
    assert plan.device == "cpu" and plan.jobs == 4 and plan.env_for(0)["CUDA_VISIBLE_DEVICES"] == ""


def test_detection_sees_several_devices_of_a_kind(monkeypatch):
    # XLA can split the host into N CPU devices: several devices, without a GPU.
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    devices = detect_devices("jax")
    assert [(d.kind, d.index) for d in devices] == [("cpu", i) for i in range(4)]


def test_a_backend_that_cannot_start_means_cpu_only(monkeypatch):
    monkeypatch.setenv("JAX_PLATFORMS", "no_such_platform")
    assert detect_devices("jax") == [Device("cpu", 0)]
    assert detect_devices("no_such_backend") == [Device("cpu", 0)]


def test_the_module_imports_no_framework():
    code = "import sys, zoo.runs.devices; print([m for m in ('keras', 'jax', 'tensorflow') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_gpus_are_named_as_cuda_visible_devices_names_them(monkeypatch):
    # What a probe prints on a machine with two of its GPUs made visible.
    printed = '[{"kind": "gpu", "memory": 85000000000}, {"kind": "gpu", "memory": null}]\n'
    fake = subprocess.CompletedProcess([], 0, stdout="a warning\n" + printed, stderr="")
    monkeypatch.setattr(subprocess, "run", lambda *args, **kwargs: fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, GPU-abc")
    devices = detect_devices("jax")
    assert devices == [Device("gpu", 0, 85 * GB, "2"), Device("gpu", 1, None, "GPU-abc")]
    assert [plan_workers(devices, cores=16).env_for(i)["CUDA_VISIBLE_DEVICES"] for i in range(2)] == ["2", "GPU-abc"]


def test_the_gpu_plan_batches_seeds_on_jax_only_and_keeps_float32_products():
    jax_plan = plan_workers(ONE_GPU, cores=16, backend="jax")
    assert jax_plan.batch_seeds and "batched" in jax_plan.note
    assert jax_plan.env_for(0)["JAX_DEFAULT_MATMUL_PRECISION"] == "highest"  # not TF32: results as on the CPU
    tf_plan = plan_workers(ONE_GPU, cores=16, backend="tensorflow")
    assert tf_plan.device == "gpu" and not tf_plan.batch_seeds and "batched" not in tf_plan.note


def test_a_device_error_is_a_usage_error():
    from zoo.core.config import ConfigError

    assert issubclass(DeviceError, ConfigError)  # the CLI answers it with one line and exit code 2


def test_a_multi_device_plan_from_what_the_backend_detects(monkeypatch):
    # XLA splits the host into 3 devices; planned as if they were 3 GPUs of
    # 8 GB, the workers are dealt round-robin and each GPU's share holds.
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=3")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    detected = detect_devices("jax")
    assert len(detected) == 3
    plan = plan_workers([Device("gpu", d.index, 8 * GB) for d in detected], cores=16, requested_jobs=7)
    assert [plan.env_for(i)["CUDA_VISIBLE_DEVICES"] for i in range(7)] == ["0", "1", "2", "0", "1", "2", "0"]
    sums = _per_gpu_fractions(plan)
    assert set(sums) == {"0", "1", "2"} and max(sums.values()) <= GPU_MEMORY_SHARE
    assert "3 GPUs" in plan.note and "up to 3 per GPU" in plan.note


def test_make_plan_probes_only_where_a_gpu_could_be(monkeypatch):
    from zoo.runs import devices

    def no_probe(backend):
        raise AssertionError("probed a machine with no GPU device node")

    monkeypatch.setattr(devices, "detect_devices", no_probe)
    monkeypatch.setattr(devices, "gpu_device_nodes", lambda: False)
    devices._detected.cache_clear()
    assert devices.make_plan("auto", None, "jax", cores=4).device == "cpu"
    with pytest.raises(DeviceError, match="no GPU visible"):
        devices.make_plan("gpu", None, "jax", cores=4)

    probed = []
    monkeypatch.setattr(devices, "detect_devices", lambda backend: probed.append(backend) or ONE_GPU)
    monkeypatch.setattr(devices, "gpu_device_nodes", lambda: True)
    plan = devices.make_plan("auto", None, "jax", cores=16)
    assert (plan.device, plan.jobs, plan.batch_seeds) == ("gpu", WORKERS_PER_GPU, True)
    assert devices.make_plan("cpu", 3, "jax", cores=16).note.endswith("the GPU is hidden from them.")
    assert probed == ["jax"]  # once per process and environment
    devices._detected.cache_clear()


def test_device_flag_errors_stop_a_compare_before_any_work(tmp_path, capsys):
    from zoo.cli import main

    common = ["compare", "--quick", "--runs", str(tmp_path / "runs"), "--reports", str(tmp_path / "reports")]
    assert main([*common, "--device", "gpuu"]) == 2
    assert main([*common, "--device", "gpu"]) == 2  # this machine has no GPU
    assert main([*common, "--device", "gpu", "--executor", "ray"]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("error: --device = ") for line in errors)
    assert "did you mean 'gpu'" in errors[0] and "no GPU visible" in errors[1] and "ray executor" in errors[2]
    assert not list((tmp_path / "runs").glob("*-*"))  # no run folder
