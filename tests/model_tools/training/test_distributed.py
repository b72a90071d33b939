"""Training past one process: torchrun with two gloo processes on the CPU; one process unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from model_tools.training.checkpoint import load_checkpoint
from model_tools.training.distributed import ProcessGroup, shard
from model_tools.training.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[3]
RUN_FILES = ["checkpoint.pt", "confusion_matrix.png", "learning_curve.png", "metrics.json"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _torchrun(out: Path, seed: int = 0, extra: tuple[str, ...] = ()) -> dict:
    """Two gloo processes on 1,536 shipped images; the run's metrics.json."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "model_tools", "train", "--arch", "dnn", "--epochs", "3", "--train-limit", "1536",
               "--eval-every", "6", "--lr-schedule", "cosine", "--device",
               "cpu", "--seed", str(seed), "--no-test", "--out", str(out), *extra]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def two_process_runs(tmp_path_factory) -> tuple[Path, dict, dict]:
    base = tmp_path_factory.mktemp("ddp")
    return base, _torchrun(base / "first"), _torchrun(base / "second")


def test_two_gloo_processes_lower_the_loss_and_write_one_run_folder(two_process_runs) -> None:
    base, metrics, _ = two_process_runs
    assert sorted(p.name for p in (base / "first").iterdir()) == RUN_FILES  # rank 1 wrote nothing
    assert sorted(p.name for p in base.iterdir()) == ["first", "second"]
    assert metrics["config"]["world_size"] == 2
    # 1,536 images, global batch 128 = 64 per process: 12 steps per epoch, as with one process.
    assert metrics["steps_per_epoch"] == 12 and metrics["total_steps"] == 36
    curves = metrics["curves"]
    assert curves["train_loss"][-1] < 0.6 * curves["train_loss"][0]
    assert curves["val_accuracy"][-1] > curves["val_accuracy"][0] + 0.05
    # Validation was sliced across the ranks and gathered: every validation image was scored once.
    assert metrics["validation"]["images"] == 4119
    assert sum(metrics["validation"]["support"]) == 4119
    assert load_checkpoint(base / "first" / "checkpoint.pt").metrics == metrics["summary"]


def test_same_seed_and_world_size_give_the_same_metrics(two_process_runs) -> None:
    base, first, second = two_process_runs
    assert first["curves"] == second["curves"]
    assert first["validation"] == second["validation"]
    weights = [load_checkpoint(base / name / "checkpoint.pt").model.state_dict()
               for name in ("first", "second")]
    assert _weights_digest(weights[0]) == _weights_digest(weights[1])


def test_two_processes_distil_from_a_teacher(tmp_path) -> None:
    """Each process runs its own teacher (onnxruntime, one thread) on its own shard of the batch."""
    teacher = REPO / "models" / "emnist" / "1" / "model.onnx"
    metrics = _torchrun(tmp_path / "distilled", extra=("--teacher", str(teacher), "--distill-weight", "0.7"))
    assert sorted(p.name for p in (tmp_path / "distilled").iterdir()) == RUN_FILES
    config = metrics["config"]
    assert config["world_size"] == 2 and config["teachers"] == [str(teacher)]
    assert config["distill_weight"] == 0.7 and len(config["teacher_sha256"]) == 1
    curves = metrics["curves"]
    assert curves["train_loss"][-1] < 0.8 * curves["train_loss"][0]
    assert curves["val_accuracy"][-1] > curves["val_accuracy"][0] + 0.05


def test_shards_cover_every_item_once() -> None:
    slices = [shard(10, ProcessGroup(rank, 3)) for rank in range(3)]
    assert [(s.start, s.stop) for s in slices] == [(0, 4), (4, 7), (7, 10)]


def _weights_digest(state_dict: dict) -> str:
    digest = hashlib.sha256()
    for name, tensor in state_dict.items():
        digest.update(name.encode())
        digest.update(tensor.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def test_a_single_process_run_is_unchanged_bit_for_bit(validation_split, tmp_path) -> None:
    """The data-parallel code path with one replica (a gloo group of one process: DistributedDataParallel,
    DistributedSampler, sliced and gathered validation) trains exactly what the plain single process does.

    Both runs happen here, on the same processor with the same kernels, so the comparison holds on any
    machine (floats pinned from one processor do not: another CPU's kernels round differently). One epoch:
    the sampler's order is then the plain run's (both draw ``randperm`` from a generator seeded with the
    seed). Every curve and the kept weights are equal bit for bit, except the validation loss: the plain
    path takes the mean of the float32 losses in float32, the sliced path divides their float32 sum by the
    count in float64, so the two differ by the last float32 rounding (relative 2**-24; 1e-6 allowed).
    """
    import torch.distributed as dist

    from model_tools.data.datasets import load_split

    train_split = load_split("train")
    validation = (validation_split[0][:1024], validation_split[1][:1024])

    def run(out: Path, group: ProcessGroup | None) -> dict:
        config = TrainConfig(arch="cnn", epochs=1, train_limit=640, batch_size=64, eval_every=4,
                             class_weights="byclass-mix", augment=True, lr_schedule="cosine")
        result = train(config, train_split, validation, out, progress=False, group=group)
        return {**result.metrics["curves"],
                "weights": _weights_digest(load_checkpoint(result.checkpoint_path).model.state_dict())}

    plain = run(tmp_path / "plain", None)
    dist.init_process_group("gloo", store=dist.FileStore(str(tmp_path / "store"), 1), rank=0, world_size=1)
    try:
        parallel = run(tmp_path / "parallel", ProcessGroup(0, 1, 0, backend="gloo"))
    finally:
        dist.destroy_process_group()
    assert plain["step"] == [4, 8, 10]
    assert parallel.pop("val_loss") == pytest.approx(plain.pop("val_loss"), rel=1e-6, abs=0)
    assert parallel == plain
