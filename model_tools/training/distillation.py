"""Knowledge distillation for ``train --teacher``: one network learns what an ensemble of teachers answers.

An ensemble of networks is more accurate than any of them but costs their sum to serve. Distillation
(Hinton, Vinyals and Dean, "Distilling the knowledge in a neural network", 2015) trains one student on
the teachers' softened answers: every teacher's softmax at temperature T (its log-probabilities divided by
T, renormalised), averaged over the teachers, is the soft target; the student's loss mixes the
Kullback-Leibler divergence of its own softened softmax from that target, times T^2 (so the gradients keep
their size as T changes), with the usual hard-label loss. The teachers see the very batch the student
sees, augmented and mixed alike. A teacher is a training checkpoint (run in torch) or an ONNX classifier of
the serving contract (``images`` float32 [N, 784] -> ``scores``, the softmax; run in onnxruntime on one
thread, deterministic on the CPU). Its log-probabilities stand in for its logits: they differ by a
constant per image, which the softmax at any temperature ignores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from emnist_contract.signatures import INPUT_KEY, SCORES_KEY
from emnist_contract.tensors import NUM_PIXELS
from model_tools.common.hashing import file_sha256

#: The smallest probability an ONNX teacher's scores are clipped to before their log is taken.
MIN_PROBABILITY = 1e-30


class Teacher(Protocol):
    """A trained classifier the student learns from: images float32 [B, 784] -> log-probabilities [B, 62]."""

    source: Path

    def log_probabilities(self, images: Any) -> Any: ...


class CheckpointTeacher:
    """A training checkpoint, in eval mode and without gradients."""

    def __init__(self, path: Path) -> None:
        from model_tools.training.checkpoint import load_checkpoint

        self.source = path
        checkpoint = load_checkpoint(path)
        if tuple(checkpoint.labels) != BYCLASS_LABELS:
            raise ValueError(f"--teacher {path}: the checkpoint's labels are not the 62 ByClass labels in "
                             "order")
        self.model = checkpoint.model.eval()
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)

    def log_probabilities(self, images: Any) -> Any:
        import torch

        with torch.no_grad():  # not inference_mode: the loss keeps the target for its backward pass
            logits = self.model(images.detach().float().cpu())
        return torch.log_softmax(logits.float(), dim=1).to(images.device)


class OnnxTeacher:
    """An ONNX classifier of the serving contract (softmax scores out), on one onnxruntime thread."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        self.source = path
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own error types for foreign files
            raise ValueError(f"--teacher {path}: not a loadable ONNX model: {exc}") from exc
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        if list(inputs) != [INPUT_KEY] or SCORES_KEY not in outputs or outputs[SCORES_KEY][-1] != NUM_CLASSES:
            raise ValueError(f"--teacher {path}: expected input {INPUT_KEY!r} [N, {NUM_PIXELS}] and output "
                             f"{SCORES_KEY!r} [N, {NUM_CLASSES}] (the serving contract), got inputs "
                             f"{inputs} and outputs {outputs}")

    def log_probabilities(self, images: Any) -> Any:
        import torch

        batch = images.detach().float().cpu().numpy()
        scores = self.session.run([SCORES_KEY], {INPUT_KEY: np.ascontiguousarray(batch, np.float32)})[0]
        return torch.from_numpy(np.log(np.maximum(scores, MIN_PROBABILITY))).to(images.device)


def load_teacher(path: str | Path) -> Teacher:
    """A checkpoint (.pt, .pth) or an ONNX file (.onnx), by its suffix; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--teacher: no model file at {path}")
    if path.suffix == ".onnx":
        return OnnxTeacher(path)
    if path.suffix in (".pt", ".pth"):
        return CheckpointTeacher(path)
    raise ValueError(f"--teacher {path}: expected a checkpoint (.pt) or an ONNX file (.onnx)")


class TeacherEnsemble:
    """The teachers of a run; their soft target is the mean of their softmax at the temperature."""

    def __init__(self, teachers: Sequence[Teacher]) -> None:
        if not teachers:
            raise ValueError("distillation needs at least one teacher")
        self.teachers = list(teachers)

    @classmethod
    def load(cls, paths: Sequence[str | Path]) -> TeacherEnsemble:
        return cls([load_teacher(path) for path in paths])

    def soft_target(self, images: Any, temperature: float) -> Any:
        """float32 [B, 62]: each teacher's softmax of log-probabilities / T, averaged over the teachers."""
        import torch

        total = None
        for teacher in self.teachers:
            probabilities = torch.softmax(teacher.log_probabilities(images).float() / temperature, dim=1)
            total = probabilities if total is None else total + probabilities
        return total / len(self.teachers)

    def sha256(self) -> list[str]:
        """The teachers' file hashes, in order: what the run's metrics record to trace its targets back."""
        return [file_sha256(teacher.source) for teacher in self.teachers]


def distillation_loss(student_logits: Any, soft_target: Any, temperature: float) -> Any:
    """T^2 * KL(target || softmax(student / T)), averaged over the batch; 0 when the two agree."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    log_student = torch.log_softmax(student_logits.float() / temperature, dim=1)
    return F.kl_div(log_student, soft_target.float(), reduction="batchmean") * temperature ** 2
