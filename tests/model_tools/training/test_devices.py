"""``--device``: auto falls back to the CPU, cuda without a GPU is refused clearly, CPU runs stay float32."""

from __future__ import annotations

import contextlib

import pytest
import torch

from model_tools.__main__ import main
from model_tools.training.devices import autocast, gradient_scaler, resolve_device

needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is visible here")


@needs_no_gpu
def test_auto_is_the_cpu_without_a_gpu_and_cuda_is_refused() -> None:
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="--device must be one of"):
        resolve_device("tpu")


def test_the_cpu_runs_in_float32_without_loss_scaling() -> None:
    cpu = torch.device("cpu")
    assert isinstance(autocast(cpu), contextlib.nullcontext)
    assert not gradient_scaler(cpu).is_enabled()


@needs_no_gpu
def test_train_with_cuda_and_no_gpu_exits_with_a_message(tmp_path, capsys) -> None:
    assert main(["train", "--arch", "linear", "--device", "cuda", "--epochs", "1", "--train-limit", "64",
                 "--no-test", "--out", str(tmp_path / "run")]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
