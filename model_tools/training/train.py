"""``train``: fit a linear, DNN or CNN classifier on the shipped EMNIST splits, reproducibly.

Adam on mini-batches, evaluation on the validation split every N steps, the best checkpoint (by
validation accuracy) kept. One seed gives bit-identical runs: every random draw (initialisation,
dropout, shuffling, augmentation) comes from seeded generators, torch runs its deterministic CPU
kernels, and the thread count is fixed. Plots are drawn by :mod:`model_tools.training.plots`, class
weights come from :mod:`model_tools.training.class_weights`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.common.atomic_io import write_json_atomic
from model_tools.data.datasets import load_split, to_model_input
from model_tools.training.class_weights import CLASS_WEIGHTS, byclass_mix_weights, inverse_frequency_weights

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine")
EVAL_BATCH = 1024


@dataclass
class TrainConfig:
    """Everything that determines a run; stored in the checkpoint and metrics.json."""

    arch: str
    epochs: int = 10
    lr: float = 1e-3
    batch_size: int = 128
    seed: int = 0
    class_weights: str = "none"
    augment: bool = False
    eval_every: int = 200
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    threads: int = 1
    train_limit: int | None = None  # train on the first N images only (quick checks, tests)
    augment_params: dict[str, float] = field(default_factory=dict)

    def validate(self) -> None:
        from model_tools.training.networks import ARCHITECTURES

        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {sorted(ARCHITECTURES)}")
        if self.class_weights not in CLASS_WEIGHTS:
            raise ValueError(f"--class-weights must be one of {CLASS_WEIGHTS}, not {self.class_weights!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"--lr-schedule must be one of {LR_SCHEDULES}, not {self.lr_schedule!r}")
        for name in ("epochs", "batch_size", "eval_every", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError("--lr must be a positive number")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError("--label-smoothing must be in [0, 1)")
        if self.train_limit is not None and self.train_limit < 1:
            raise ValueError("--train-limit must be at least 1")


@dataclass
class TrainResult:
    """What a run produced: the best model, its checkpoint file and the metrics written beside it."""

    checkpoint_path: Path
    metrics_path: Path
    metrics: dict[str, Any]


@contextlib.contextmanager
def deterministic_torch(threads: int) -> Iterator[None]:
    """Deterministic CPU kernels and a fixed thread count for the run, restored afterwards."""
    import torch

    previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])


def predict_logits(model: Any, images: Any, batch_size: int = EVAL_BATCH) -> Any:
    """Logits float32 [N, 62] of a torch model on float32 [N, 784], in eval mode, without gradients."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            parts = [model(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(parts) if parts else torch.empty(0, NUM_CLASSES)


def _to_tensors(images: np.ndarray, labels: np.ndarray) -> tuple[Any, Any]:
    import torch

    return torch.from_numpy(to_model_input(images)), torch.from_numpy(np.asarray(labels, dtype=np.int64))


def train(
    config: TrainConfig,
    train_data: tuple[np.ndarray, np.ndarray],
    validation_data: tuple[np.ndarray, np.ndarray],
    out_dir: str | Path,
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train, keep the best model by validation accuracy, write ``checkpoint.pt`` and ``metrics.json``.

    ``*_data`` are (images uint8 [N, 28, 28] upright, ByClass labels int64 [N]). ``test_data``, when
    given, is only scored once at the end with the kept model (never used to choose anything).
    """
    import torch
    import torch.nn.functional as F  # noqa: N812
    from tqdm import tqdm

    from model_tools.training.augment import AugmentConfig, augment_batch
    from model_tools.training.checkpoint import Checkpoint, save_checkpoint
    from model_tools.training.metrics import (
        byclass_frequencies,
        classification_report,
        prior_weighted_accuracy,
    )
    from model_tools.training.networks import build_model

    config.validate()
    out_dir = Path(out_dir)
    images, labels = train_data
    if config.train_limit is not None:
        images, labels = images[: config.train_limit], labels[: config.train_limit]
    if len(labels) == 0:
        raise ValueError("the training split is empty")
    if len(validation_data[1]) == 0:
        raise ValueError("the validation split is empty")
    augment_config = AugmentConfig(**config.augment_params)

    started, cpu_started = time.perf_counter(), time.process_time()
    with deterministic_torch(config.threads):
        torch.manual_seed(config.seed)  # initialisation and dropout
        shuffle_generator = torch.Generator().manual_seed(config.seed)
        augment_generator = torch.Generator().manual_seed(config.seed + 1)

        x_train, y_train = _to_tensors(images, labels)
        x_val, y_val = _to_tensors(*validation_data)
        model = build_model(config.arch)
        byclass = byclass_frequencies()
        weights = None
        if config.class_weights == "inverse-frequency":
            weights = torch.from_numpy(inverse_frequency_weights(labels))
        elif config.class_weights == "byclass-mix":
            weights = torch.from_numpy(byclass_mix_weights(labels, byclass))
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        steps_per_epoch = math.ceil(len(y_train) / config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        scheduler = None
        if config.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)

        curves: dict[str, list[float]] = {
            "step": [], "epoch": [], "lr": [], "train_loss": [], "train_accuracy": [],
            "val_loss": [], "val_accuracy": [], "val_accuracy_byclass_mix": [],
        }
        best: dict[str, Any] = {"step": 0, "val_accuracy": -1.0, "val_loss": math.inf}
        best_state: dict[str, Any] = {}
        window_loss = window_correct = window_count = 0.0

        def evaluate_now(step: int) -> None:
            nonlocal window_loss, window_correct, window_count, best_state
            logits = predict_logits(model, x_val)
            val_loss = float(F.cross_entropy(logits, y_val))
            val_accuracy = float((logits.argmax(1) == y_val).double().mean())
            curves["step"].append(step)
            curves["epoch"].append(step / steps_per_epoch)
            curves["lr"].append(optimizer.param_groups[0]["lr"])
            curves["train_loss"].append(window_loss / max(window_count, 1))
            curves["train_accuracy"].append(window_correct / max(window_count, 1))
            curves["val_loss"].append(val_loss)
            curves["val_accuracy"].append(val_accuracy)
            curves["val_accuracy_byclass_mix"].append(
                prior_weighted_accuracy(y_val.numpy(), logits.argmax(1).numpy(), byclass)
            )
            window_loss = window_correct = window_count = 0.0
            if val_accuracy > best["val_accuracy"]:
                best.update(step=step, epoch=step / steps_per_epoch, val_accuracy=val_accuracy,
                            val_loss=val_loss)
                best_state = copy.deepcopy(model.state_dict())
            log.debug("step %d: val loss %.4f, val accuracy %.4f", step, val_loss, val_accuracy)

        model.train()
        step = 0
        bar = tqdm(total=total_steps, desc=f"train {config.arch}", unit="step", disable=not progress)
        for _epoch in range(config.epochs):
            order = torch.randperm(len(y_train), generator=shuffle_generator)
            for start in range(0, len(order), config.batch_size):
                batch = order[start : start + config.batch_size]
                xb, yb = x_train[batch], y_train[batch]
                if config.augment:
                    xb = augment_batch(xb, augment_generator, augment_config)
                logits = model(xb)
                loss = F.cross_entropy(logits, yb, weight=weights, label_smoothing=config.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                with torch.no_grad():
                    # The curve shows plain cross-entropy, comparable across weighting choices.
                    window_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
                    window_correct += float((logits.argmax(1) == yb).sum())
                    window_count += len(yb)
                if step % config.eval_every == 0 or step == total_steps:
                    evaluate_now(step)
                    bar.set_postfix(val_acc=f"{curves['val_accuracy'][-1]:.4f}",
                                    best=f"{best['val_accuracy']:.4f}")
                bar.update(1)
        bar.close()
        train_seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started

        model.load_state_dict(best_state)
        model.eval()
        validation_report = classification_report(
            validation_data[1], predict_logits(model, x_val).argmax(1).numpy(), prior=byclass
        )
        test_report = None
        if test_data is not None:
            x_test, _ = _to_tensors(*test_data)
            test_report = classification_report(
                test_data[1], predict_logits(model, x_test).argmax(1).numpy(), prior=byclass
            )

    train_counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=NUM_CLASSES)
    summary = {
        "best_step": best["step"],
        "val_accuracy": validation_report["accuracy"],
        "val_accuracy_case_insensitive": validation_report["accuracy_case_insensitive"],
        "val_accuracy_byclass_mix": validation_report["accuracy_byclass_mix"],
        "test_accuracy": test_report["accuracy"] if test_report else None,
        "test_accuracy_case_insensitive": test_report["accuracy_case_insensitive"] if test_report else None,
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    config_dict = asdict(config)
    config_dict["augment_params"] = augment_config.to_dict() if config.augment else {}
    metrics: dict[str, Any] = {
        "config": config_dict,
        "summary": summary,
        "train_images": int(len(labels)),
        "validation_images": int(len(validation_data[1])),
        "classes_without_training_images": [BYCLASS_LABELS[c] for c in np.flatnonzero(train_counts == 0)],
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "wall_seconds": round(train_seconds, 1),
        "torch_version": torch.__version__,
        "curves": curves,
        "best": best,
        "validation": validation_report,
        "per_class_accuracy": dict(zip(BYCLASS_LABELS, validation_report["recall"], strict=True)),
        "test": test_report,
    }
    checkpoint = Checkpoint(arch=config.arch, model=model, metrics=summary, config=config_dict)
    checkpoint_path = save_checkpoint(checkpoint, out_dir / "checkpoint.pt")
    metrics["checkpoint_sha256"] = checkpoint.sha256
    metrics_path = write_json_atomic(out_dir / "metrics.json", metrics)
    return TrainResult(checkpoint_path=checkpoint_path, metrics_path=metrics_path, metrics=metrics)


# --------------------------------------------------------------------------------------------- CLI


def run(args: argparse.Namespace) -> int:
    from model_tools.training.plots import plot_confusion_matrix, plot_learning_curves

    config = TrainConfig(
        arch=args.arch,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
        class_weights=args.class_weights,
        augment=args.augment if args.augment is not None else args.arch == "cnn",
        eval_every=args.eval_every,
        lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        threads=args.threads,
        train_limit=args.train_limit,
    )
    config.validate()
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} exists and is not a directory")
    if (out_dir / "checkpoint.pt").exists():
        log.warning("%s already holds a run; it will be replaced when this one finishes", out_dir)
    train_data = load_split("train", args.data_dir)
    validation_data = load_split("validation", args.data_dir)
    test_data = None if args.no_test else load_split("test", args.data_dir)
    log.info("training %s on %d images, validating on %d (%s)", config.arch, len(train_data[1]),
             len(validation_data[1]), json.dumps(asdict(config)))
    result = train(config, train_data, validation_data, out_dir, test_data=test_data)
    metrics = result.metrics
    plot_learning_curves({out_dir.name: metrics}, out_dir / "learning_curve.png",
                         title=f"{config.arch}: {metrics['train_images']} training images")
    plot_confusion_matrix(metrics["validation"]["confusion_matrix"], out_dir / "confusion_matrix.png",
                          title=f"{out_dir.name}: validation confusion matrix")
    summary = metrics["summary"]
    print(f"run folder       {out_dir}")
    print(f"parameters       {summary['parameters']:,}")
    print(f"train time       {summary['train_seconds']:.0f} s wall, {summary['train_cpu_seconds']:.0f} s CPU "
          f"({config.threads} thread(s))")
    print(f"best step        {summary['best_step']} of {metrics['total_steps']}")
    print(f"val accuracy     {summary['val_accuracy']:.4f} (case-insensitive "
          f"{summary['val_accuracy_case_insensitive']:.4f})")
    if summary["test_accuracy"] is not None:
        print(f"test accuracy    {summary['test_accuracy']:.4f}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a linear, DNN or CNN classifier on the shipped data",
        description="Train on data/ (train split), evaluate on the validation split every N steps, keep "
        "the best checkpoint. Writes checkpoint.pt, metrics.json, learning_curve.png and "
        "confusion_matrix.png into --out. Same seed, same thread count -> identical metrics.",
    )
    parser.add_argument("--arch", required=True, choices=("linear", "dnn", "cnn"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--class-weights", choices=CLASS_WEIGHTS, default="none",
                        help="inverse-frequency: weight each class's loss by n/(k*n_c); byclass-mix: by "
                        "share_byclass(c)/share_train(c), to fit NIST's ByClass class mix")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random affine + elastic distortions (default: on for cnn, off otherwise)")
    parser.add_argument("--eval-every", type=int, default=200, metavar="N",
                        help="evaluate on the validation split every N steps (and at the end)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                        help="cosine: anneal the learning rate to 0 over the run")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads, fixed for determinism (default 1: on a busy 2-core machine "
                        "2 threads oversubscribe the cores and run several times slower)")
    parser.add_argument("--train-limit", type=int, default=None, metavar="N",
                        help="use only the first N training images (quick checks)")
    parser.add_argument("--data-dir", default=None, help="data folder (default: the shipped data/)")
    parser.add_argument("--no-test", action="store_true",
                        help="do not score the kept-aside test split at the end")
    parser.add_argument("--out", required=True, help="run folder, e.g. runs/cnn")
    parser.set_defaults(func=run)
