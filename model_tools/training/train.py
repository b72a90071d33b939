"""The training loop: fit a linear, DNN or CNN classifier, reproducibly, on one process or many.

Adam on mini-batches, evaluation on the validation split every N steps, the best checkpoint (by
real-image validation accuracy) kept. One seed gives bit-identical CPU runs: every random draw
(initialisation, dropout, shuffling, augmentation) comes from seeded generators, torch runs its
deterministic CPU kernels, and the thread count is fixed. Under torchrun each process trains a
DistributedDataParallel replica on its shard (:mod:`model_tools.training.distributed`); a single
process takes exactly the path it always took. Synthetic images, when mixed in, get per-image loss
weights (:mod:`model_tools.training.image_pool`) and their own validation on held-out fonts. With
teachers, the loss also pulls the network towards their mean softened answers on each batch
(:mod:`model_tools.training.distillation`). With ``ema_decay``, a moving average of the weights
(:mod:`model_tools.training.weight_average`) is what is validated and kept. The command line is
:mod:`model_tools.training.train_command`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import NUM_CLASSES
from model_tools.common.atomic_io import write_json_atomic
from model_tools.data.datasets import to_model_input
from model_tools.training.class_weights import CLASS_WEIGHTS, byclass_mix_weights, inverse_frequency_weights
from model_tools.training.devices import DEVICES
from model_tools.training.distributed import ProcessGroup
from model_tools.training.image_pool import ImagePool, ImageSource, training_subset
from model_tools.training.mixing import MIXING

log = logging.getLogger(__name__)

LR_SCHEDULES = ("constant", "cosine")
#: Which classes' synthetic images ``--synthetic`` mixes in.
SYNTHETIC_CLASSES = ("missing", "all")
#: The class mix byclass-mix fits for letters only synthetic images teach: NIST's shares, or 50/50 per case.
CASE_PRIORS = ("byclass", "even")
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
    train_fraction: float | None = None  # train on this share of every class's real images (learning curves)
    augment_params: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    synthetic: str | None = None  # synthetic.npz mixed into training (None: real images only)
    synthetic_classes: str = "missing"  # "missing": only classes without real images; "all"
    synthetic_weight: float = 1.0  # loss weight of one synthetic image, relative to a real one
    class_weight_power: float = 1.0  # class weights ** power: 1 the full balance, 0 none
    case_prior: str = "byclass"  # "even": letters taught only by synthetic images get 50/50 case shares
    data: str | None = None  # NIST files trained on instead of the shipped split
    world_size: int = 1
    mixing: str = "none"  # "mixup" or "cutmix": blend each image with another of its batch
    mixing_alpha: float = 0.2  # lam ~ Beta(alpha, alpha)
    teachers: list[str] = field(default_factory=list)  # distil from these models' mean softmax (none: off)
    distill_weight: float = 0.5  # the soft target's share of the loss, the hard labels' the rest
    distill_temperature: float = 2.0  # T of the softened softmax of teachers and student
    ema_decay: float = 0.0  # > 0: validate and keep an exponential moving average of the weights (0: off)
    widths: list[int] | None = None  # channels per stage of the CNN (2) or ResNet (3); None: their defaults

    def arch_kwargs(self) -> dict[str, Any]:
        """What :func:`~model_tools.training.networks.build_model` takes beside the name (the checkpoint
        stores it, so a loaded run rebuilds the same network)."""
        return {} if self.widths is None else {"widths": tuple(self.widths)}

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
        if self.train_fraction is not None and not 0.0 < self.train_fraction <= 1.0:
            raise ValueError("--train-fraction must be in (0, 1]")
        if self.device not in DEVICES:
            raise ValueError(f"--device must be one of {DEVICES}, not {self.device!r}")
        if self.synthetic_classes not in SYNTHETIC_CLASSES:
            raise ValueError(f"--synthetic-classes must be one of {SYNTHETIC_CLASSES}")
        if not (0.0 <= self.class_weight_power <= 1.0):
            raise ValueError("--class-weight-power must be in [0, 1]")
        if self.case_prior not in CASE_PRIORS:
            raise ValueError(f"--case-prior must be one of {CASE_PRIORS}")
        if not (self.synthetic_weight > 0 and math.isfinite(self.synthetic_weight)):
            raise ValueError("--synthetic-weight must be a positive number")
        if self.mixing not in MIXING:
            raise ValueError(f"--mixing must be one of {MIXING}, not {self.mixing!r}")
        if not (self.mixing_alpha > 0 and math.isfinite(self.mixing_alpha)):
            raise ValueError("--mixing-alpha must be a positive number")
        if not 0.0 < self.distill_weight <= 1.0:
            raise ValueError("--distill-weight must be in (0, 1]")
        if not (self.distill_temperature > 0 and math.isfinite(self.distill_temperature)):
            raise ValueError("--distill-temperature must be a positive number")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("--ema must be in [0, 1): 0 is off, 0.999 averages about the last 1,000 steps")
        stages = {"cnn": 2, "resnet": 3}
        if self.widths is not None and (len(self.widths) != stages.get(self.arch) or min(self.widths) < 1):
            raise ValueError("--widths takes a positive channel count per stage: two for --arch cnn, "
                             "three for --arch resnet, none for the others")
        if self.batch_size % self.world_size:
            raise ValueError(f"--batch-size {self.batch_size} must be a multiple of the number of processes "
                             f"({self.world_size}): it is the global batch, split across them")


@dataclass
class TrainResult:
    """What a run produced: the best model, its checkpoint file and the metrics written beside it
    (on rank 0; the other ranks of a torchrun job get ``None`` from :func:`train`)."""

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


def _to_tensors(images: np.ndarray, labels: np.ndarray, device: Any = None) -> tuple[Any, Any]:
    import torch

    x = torch.from_numpy(to_model_input(images))
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return (x, y) if device is None or device.type == "cpu" else (x.to(device), y.to(device))


def _pool_of(config: TrainConfig, train_data: Any) -> ImagePool:
    if isinstance(train_data, ImagePool):
        return train_data
    images, labels = train_data
    images, labels = training_subset(images, labels, config.train_fraction, config.train_limit, config.seed)
    if len(labels) == 0:
        raise ValueError("the training split is empty")
    return ImagePool([ImageSource(np.asarray(images), np.asarray(labels, dtype=np.int64))])


def train(
    config: TrainConfig,
    train_data: tuple[np.ndarray, np.ndarray] | ImagePool,
    validation_data: tuple[np.ndarray, np.ndarray],
    out_dir: str | Path,
    test_data: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = True,
    synthetic_validation: tuple[np.ndarray, np.ndarray] | None = None,
    group: ProcessGroup | None = None,
) -> TrainResult | None:
    """Train, keep the best model by validation accuracy, write ``checkpoint.pt`` and ``metrics.json``.

    ``train_data`` is (images uint8 [N, 28, 28] upright, ByClass labels int64 [N]) or an
    :class:`ImagePool` (real and synthetic sources); the other ``*_data`` are such pairs.
    ``synthetic_validation`` (held-out fonts) is scored beside the real validation images, never used to
    pick the kept step. ``test_data``, when given, is only scored once at the end with the kept model.
    Under torchrun (``group``), rank 0 writes the run folder and returns the result, the others None.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812
    from torch.utils.data.distributed import DistributedSampler
    from tqdm import tqdm

    from model_tools.training.augment import AugmentConfig, augment_batch
    from model_tools.training.checkpoint import Checkpoint, save_checkpoint
    from model_tools.training.devices import autocast, gradient_scaler, prepare_backend, resolve_device
    from model_tools.training.distillation import TeacherEnsemble, distillation_loss
    from model_tools.training.distributed import barrier, gather_in_rank_order, shard, sum_across
    from model_tools.training.image_pool import even_case_prior, sample_weights
    from model_tools.training.metrics import byclass_frequencies, classification_report
    from model_tools.training.mixing import mix_batch
    from model_tools.training.networks import build_model
    from model_tools.training.run_metrics import run_metrics
    from model_tools.training.weight_average import exponential_average

    group = group or ProcessGroup()
    config.world_size = group.world_size
    config.validate()
    out_dir = Path(out_dir)
    pool = _pool_of(config, train_data)
    if len(validation_data[1]) == 0:
        raise ValueError("the validation split is empty")
    augment_config = AugmentConfig(**config.augment_params)
    teachers = TeacherEnsemble.load(config.teachers) if config.teachers else None
    device = resolve_device(config.device, group.local_rank)
    prepare_backend(device)

    started, cpu_started = time.perf_counter(), time.process_time()
    with deterministic_torch(config.threads) if device.type == "cpu" else contextlib.nullcontext():
        torch.manual_seed(config.seed)  # initialisation (the same on every rank) and dropout
        shuffle_generator = torch.Generator().manual_seed(config.seed)
        augment_generator = torch.Generator().manual_seed(config.seed + 1 + 7919 * group.rank)
        mixing_rng = np.random.default_rng([config.seed, 2, group.rank])  # its own draws: none else move

        x_val, y_val = _to_tensors(*validation_data, device=device)
        x_syn = y_syn = None
        if synthetic_validation is not None:
            x_syn, y_syn = _to_tensors(*synthetic_validation, device=device)
        net = build_model(config.arch, **config.arch_kwargs()).to(device)
        if group.rank:
            torch.manual_seed(config.seed + group.rank)  # each replica its own dropout
        model = net
        # Every rank holds the same weights after each step, so each keeps the same average.
        averaged = exponential_average(net, config.ema_decay) if config.ema_decay else None
        scored = net if averaged is None else averaged.module  # what validation scores and the run keeps
        if group.distributed:
            model = torch.nn.parallel.DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None)
        byclass = byclass_frequencies()
        mixed = bool(pool.synthetic.any())
        labels_np = pool.labels.numpy()
        weights = per_image = None
        if mixed or config.class_weight_power != 1.0:
            prior = byclass
            if config.case_prior == "even":
                prior = even_case_prior(byclass, list(np.flatnonzero(
                    (pool.class_counts(False) == 0) & (pool.class_counts(True) > 0))))
            per_image = torch.from_numpy(sample_weights(
                labels_np, pool.synthetic.numpy(), config.synthetic_weight, config.class_weights, prior,
                config.class_weight_power))
        elif config.class_weights == "inverse-frequency":
            weights = torch.from_numpy(inverse_frequency_weights(labels_np))
        elif config.class_weights == "byclass-mix":
            weights = torch.from_numpy(byclass_mix_weights(labels_np, byclass))
        if device.type != "cpu":
            pool.to(device)
            weights = None if weights is None else weights.to(device)
            per_image = None if per_image is None else per_image.to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        scaler = gradient_scaler(device)
        local_batch = config.batch_size // group.world_size
        sampler = None
        if group.distributed:
            sampler = DistributedSampler(pool, num_replicas=group.world_size, rank=group.rank, shuffle=True,
                                         seed=config.seed)
            steps_per_epoch = math.ceil(len(sampler) / local_batch)
        else:
            steps_per_epoch = math.ceil(len(pool) / config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        scheduler = None
        if config.lr_schedule == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)

        curves: dict[str, list[float]] = {
            "step": [], "epoch": [], "lr": [], "train_loss": [], "train_accuracy": [],
            "val_loss": [], "val_accuracy": [], "val_accuracy_byclass_mix": [],
        }
        if x_syn is not None:
            curves["val_synthetic_accuracy"] = []
        best: dict[str, Any] = {"step": 0, "val_accuracy": -1.0, "val_loss": math.inf}
        best_state: dict[str, Any] = {}
        window_loss = window_correct = window_count = 0.0

        def score(x: Any, y: Any) -> tuple[float, float, np.ndarray]:
            """(mean loss, accuracy, predictions) of the current model; sliced across ranks under torchrun."""
            if not group.distributed:
                logits = predict_logits(scored, x)
                return (float(F.cross_entropy(logits, y)), float((logits.argmax(1) == y).double().mean()),
                        logits.argmax(1).cpu().numpy())
            part = shard(len(y), group)
            logits = predict_logits(scored, x[part])
            loss_sum = sum_across(group, [float(F.cross_entropy(logits, y[part], reduction="sum"))])[0]
            predictions = gather_in_rank_order(group, logits.argmax(1).cpu().numpy())
            return loss_sum / len(y), float(np.mean(predictions == y.cpu().numpy())), predictions

        def evaluate_now(step: int) -> None:
            nonlocal window_loss, window_correct, window_count, best_state
            from model_tools.training.metrics import prior_weighted_accuracy

            val_loss, val_accuracy, predictions = score(x_val, y_val)
            window_loss, window_correct, window_count = sum_across(
                group, [window_loss, window_correct, window_count])
            curves["step"].append(step)
            curves["epoch"].append(step / steps_per_epoch)
            curves["lr"].append(optimizer.param_groups[0]["lr"])
            curves["train_loss"].append(window_loss / max(window_count, 1))
            curves["train_accuracy"].append(window_correct / max(window_count, 1))
            curves["val_loss"].append(val_loss)
            curves["val_accuracy"].append(val_accuracy)
            curves["val_accuracy_byclass_mix"].append(
                prior_weighted_accuracy(validation_data[1], predictions, byclass))
            if x_syn is not None:
                curves["val_synthetic_accuracy"].append(score(x_syn, y_syn)[1])
            window_loss = window_correct = window_count = 0.0
            if val_accuracy > best["val_accuracy"]:
                best.update(step=step, epoch=step / steps_per_epoch, val_accuracy=val_accuracy,
                            val_loss=val_loss)
                best_state = copy.deepcopy(scored.state_dict())
            log.debug("step %d: val loss %.4f, val accuracy %.4f", step, val_loss, val_accuracy)

        def batch_loss(logits: Any, targets: Any, image_weights: Any) -> Any:
            """The training loss: class weights, or per-image weights (synthetic images, tempered mix)."""
            if image_weights is None:
                return F.cross_entropy(logits, targets, weight=weights,
                                       label_smoothing=config.label_smoothing)
            return (F.cross_entropy(logits, targets, reduction="none", label_smoothing=config.label_smoothing)
                    * image_weights).sum() / image_weights.sum()

        model.train()
        step = 0
        bar = tqdm(total=total_steps, desc=f"train {config.arch}", unit="step",
                   disable=not progress or not group.is_main)
        for epoch in range(config.epochs):
            if sampler is None:
                order = torch.randperm(len(pool), generator=shuffle_generator)
            else:
                sampler.set_epoch(epoch)
                order = torch.tensor(list(sampler), dtype=torch.int64)
            if device.type != "cpu":
                order = order.to(device)
            for start in range(0, len(order), local_batch):
                batch = order[start : start + local_batch]
                xb, yb = pool.batch(batch), pool.labels[batch]
                if config.augment:
                    xb = augment_batch(xb, augment_generator, augment_config)
                mixed = None if config.mixing == "none" else mix_batch(xb, mixing_rng, config.mixing,
                                                                       config.mixing_alpha)
                if mixed is not None:
                    xb = mixed.images
                soft_target = None
                if teachers is not None:  # the teachers read the batch the student reads, distortions and all
                    soft_target = teachers.soft_target(xb, config.distill_temperature)
                with autocast(device):
                    logits = model(xb)
                    wb = None if per_image is None else per_image[batch]
                    loss = batch_loss(logits, yb, wb)
                    if mixed is not None:  # the partner's label takes the share of the image it gave
                        loss = mixed.lam * loss + (1.0 - mixed.lam) * batch_loss(
                            logits, yb[mixed.partner], None if wb is None else wb[mixed.partner])
                    if soft_target is not None:  # unweighted: the teachers' answers already fit the class mix
                        soft_loss = distillation_loss(logits, soft_target, config.distill_temperature)
                        loss = (1.0 - config.distill_weight) * loss + config.distill_weight * soft_loss
                optimizer.zero_grad(set_to_none=True)
                if scaler.is_enabled():
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                if averaged is not None:
                    averaged.update_parameters(net)
                step += 1
                with torch.no_grad():
                    # The curve shows plain cross-entropy, comparable across weighting choices.
                    window_loss += float(F.cross_entropy(logits.float(), yb, reduction="sum"))
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

        if not group.is_main:
            barrier(group)  # rank 0 scores the kept model and writes the run folder alone
            return None
        net.load_state_dict(best_state)
        net.eval()
        reports = {"validation": classification_report(
            validation_data[1], predict_logits(net, x_val).argmax(1).cpu().numpy(), prior=byclass)}
        if x_syn is not None:
            reports["validation_synthetic"] = classification_report(
                synthetic_validation[1], predict_logits(net, x_syn).argmax(1).cpu().numpy(), prior=byclass)
        if test_data is not None:
            x_test, _ = _to_tensors(*test_data, device=device)
            reports["test"] = classification_report(
                test_data[1], predict_logits(net, x_test).argmax(1).cpu().numpy(), prior=byclass)

    config_dict = asdict(config)
    config_dict["augment_params"] = augment_config.to_dict() if config.augment else {}
    if teachers is not None:
        config_dict["teacher_sha256"] = teachers.sha256()
    metrics = run_metrics(config_dict, pool, reports, curves, best, steps_per_epoch, total_steps,
                          train_seconds, cpu_seconds, net, device)
    checkpoint = Checkpoint(arch=config.arch, model=net.cpu(), metrics=metrics["summary"], config=config_dict,
                            arch_kwargs=config.arch_kwargs())
    checkpoint_path = save_checkpoint(checkpoint, out_dir / "checkpoint.pt")
    metrics["checkpoint_sha256"] = checkpoint.sha256
    metrics_path = write_json_atomic(out_dir / "metrics.json", metrics)
    barrier(group)
    return TrainResult(checkpoint_path=checkpoint_path, metrics_path=metrics_path, metrics=metrics)
