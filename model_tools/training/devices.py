"""Where ``train`` runs: ``--device auto|cpu|cuda``, and mixed precision on CUDA.

On CUDA the run uses float16 autocast with a gradient scaler (the loss is scaled so small gradients
survive float16) and cuDNN picks its fastest kernels, so CUDA runs are fast but not bit-reproducible.
CPU runs keep float32 and PyTorch's deterministic kernels: same seed, same thread count, same bits.
"""

from __future__ import annotations

import contextlib
from typing import Any

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(choice: str, local_rank: int = 0) -> Any:
    """The torch.device for ``--device``: auto = CUDA when a GPU is visible, else the CPU.

    Under torchrun each process takes the GPU of its LOCAL_RANK.
    """
    import torch

    if choice not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, not {choice!r}")
    available = torch.cuda.is_available()
    if choice == "cuda" and not available:
        raise ValueError("--device cuda: no CUDA device is visible to PyTorch (torch.cuda.is_available() "
                         "is False); use --device cpu or auto")
    if choice == "cpu" or not available:
        return torch.device("cpu")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ValueError(f"process with LOCAL_RANK {local_rank} but only {count} CUDA device(s) here: "
                         "give torchrun --nproc_per_node at most the number of GPUs")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


def autocast(device: Any) -> contextlib.AbstractContextManager[Any]:
    """float16 autocast on CUDA; nothing on the CPU (float32 and bit-reproducible there)."""
    import torch

    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def gradient_scaler(device: Any) -> Any:
    """A GradScaler that scales the loss on CUDA and is a no-op on the CPU."""
    import torch

    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda")


def prepare_backend(device: Any) -> None:
    """cuDNN's autotuner for fixed-size batches on CUDA."""
    import torch

    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
