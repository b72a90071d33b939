"""``train``: the command line of the training loop, on one process or under torchrun.

The images: the shipped split (default), or NIST's full files with ``--data`` (a seeded hold-out of
them validates), and ``--synthetic`` to mix in characters drawn from fonts (their held-out fonts are
scored as a second validation set). ``torchrun --nproc_per_node N -m model_tools train ...`` runs N
data-parallel processes; rank 0 alone logs progress, draws the plots and writes the run folder.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from model_tools.data.datasets import DEFAULT_DATA_DIR, SYNTHETIC_FILE, load_split, load_synthetic
from model_tools.training.class_weights import CLASS_WEIGHTS
from model_tools.training.devices import DEVICES
from model_tools.training.image_pool import ImagePool, ImageSource, training_rows, training_subset
from model_tools.training.mixing import MIXING
from model_tools.training.train import CASE_PRIORS, LR_SCHEDULES, SYNTHETIC_CLASSES, TrainConfig, train

log = logging.getLogger(__name__)

#: Images of ``--data`` held out (seeded) to validate on, when training on NIST's full files.
DEFAULT_VALIDATION_IMAGES = 10_000


def synthetic_source(path: Path, real_labels: np.ndarray, classes: str) -> ImageSource:
    """The training fonts' images of ``synthetic.npz``: all classes, or only those without real images."""
    images, labels = load_synthetic("train", path)
    if classes == "missing":
        missing = np.bincount(real_labels, minlength=62) == 0
        keep = missing[labels]
        images, labels = images[keep], labels[keep]
    if len(labels) == 0:
        raise ValueError(f"{path}: no synthetic image of a class without real images: every class already "
                         "has real images (use --synthetic-classes all to mix them in anyway)")
    return ImageSource(images, labels, synthetic=True)


def training_images(args: argparse.Namespace, config: TrainConfig) -> tuple[ImagePool, tuple, str]:
    """(the training pool, the real validation pair, a description): shipped split or ``--data``."""
    if args.data:
        from model_tools.data.nist_training import holdout_rows, load_nist_training

        nist = load_nist_training(args.data)
        train_rows, validation_rows = holdout_rows(nist.labels, args.validation_images, config.seed)
        train_rows = train_rows[training_rows(nist.labels[train_rows], config.train_fraction,
                                              config.train_limit, config.seed)]
        real = ImageSource(nist.images, nist.labels[train_rows], rows=train_rows)
        validation = (nist.images[validation_rows], nist.labels[validation_rows])
        described = f"{nist.source} ({len(train_rows):,} train, {len(validation_rows):,} held out)"
    else:
        images, labels = load_split("train", args.data_dir)
        images, labels = training_subset(images, labels, config.train_fraction, config.train_limit,
                                         config.seed)
        real = ImageSource(images, labels)
        validation = load_split("validation", args.data_dir)
        described = "the shipped train split"
    if config.train_fraction is not None:
        described += f" ({config.train_fraction * 100:g} % of every class's images: {len(real.labels):,})"
    sources = [real]
    if config.synthetic:
        sources.append(synthetic_source(Path(config.synthetic), real.labels, config.synthetic_classes))
        described += f" + {len(sources[1].labels):,} synthetic images ({config.synthetic_classes} classes)"
    return ImagePool(sources), validation, described


def run(args: argparse.Namespace) -> int:
    from model_tools.training.distributed import join, leave
    from model_tools.training.plots import plot_confusion_matrix, plot_learning_curves

    config = TrainConfig(
        arch=args.arch, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
        class_weights=args.class_weights,
        augment=args.augment if args.augment is not None else args.arch in ("cnn", "resnet"),
        eval_every=args.eval_every, lr_schedule=args.lr_schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, threads=args.threads, train_limit=args.train_limit,
        train_fraction=args.train_fraction,
        device=args.device, synthetic=args.synthetic, synthetic_classes=args.synthetic_classes,
        synthetic_weight=args.synthetic_weight, case_prior=args.case_prior, data=args.data,
        class_weight_power=args.class_weight_power, mixing=args.mixing, mixing_alpha=args.mixing_alpha,
        teachers=[str(Path(t).resolve()) for t in args.teacher or []], distill_weight=args.distill_weight,
        distill_temperature=args.distill_temperature, ema_decay=args.ema, widths=args.widths,
    )
    config.validate()
    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir} exists and is not a directory")
    group = join("cuda" if args.device != "cpu" and _cuda_available() else "cpu")
    try:
        pool, validation_data, described = training_images(args, config)
        synthetic_validation = load_synthetic("validation", config.synthetic) if config.synthetic else None
        test_data = None if args.no_test else load_split("test", args.data_dir)
        if group.is_main:
            if (out_dir / "checkpoint.pt").exists():
                log.warning("%s already holds a run; it will be replaced when this one finishes", out_dir)
            log.info("training %s on %s, validating on %d real images%s, %d process(es) (%s)", config.arch,
                     described, len(validation_data[1]),
                     f" and {len(synthetic_validation[1])} from held-out fonts"
                     if synthetic_validation else "",
                     group.world_size, json.dumps(asdict(config)))
        result = train(config, pool, validation_data, out_dir, test_data=test_data,
                       synthetic_validation=synthetic_validation, group=group)
    finally:
        leave(group)
    if result is None:
        return 0
    metrics = result.metrics
    plot_learning_curves({out_dir.name: metrics}, out_dir / "learning_curve.png",
                         title=f"{config.arch}: {metrics['train_images']} training images")
    plot_confusion_matrix(metrics["validation"]["confusion_matrix"], out_dir / "confusion_matrix.png",
                          title=f"{out_dir.name}: validation confusion matrix")
    summary = metrics["summary"]
    print(f"run folder       {out_dir}")
    print(f"parameters       {summary['parameters']:,}")
    print(f"train time       {summary['train_seconds']:.0f} s wall ({metrics['seconds_per_epoch']:.0f} s per "
          f"epoch), {summary['train_cpu_seconds']:.0f} s CPU on rank 0 ({config.threads} thread(s), "
          f"{group.world_size} process(es), {metrics['device']})")
    print(f"best step        {summary['best_step']} of {metrics['total_steps']}")
    print(f"val accuracy     {summary['val_accuracy']:.4f} (case-insensitive "
          f"{summary['val_accuracy_case_insensitive']:.4f}, ByClass mix "
          f"{summary['val_accuracy_byclass_mix']:.4f})")
    if "val_synthetic_accuracy" in summary:
        print(f"held-out fonts   {summary['val_synthetic_accuracy']:.4f} (case-insensitive "
              f"{summary['val_synthetic_accuracy_case_insensitive']:.4f})")
    if summary["test_accuracy"] is not None:
        print(f"test accuracy    {summary['test_accuracy']:.4f}")
    return 0


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a linear, DNN or CNN classifier (shipped data, NIST's files, synthetic characters)",
        description="Train on data/ (train split) or NIST's files (--data), optionally with synthetic "
        "characters (--synthetic); evaluate on the validation images every N steps and keep the best "
        "checkpoint. Writes checkpoint.pt, metrics.json, learning_curve.png and confusion_matrix.png into "
        "--out. Same seed, same thread count -> identical metrics on the CPU. Under torchrun "
        "(torchrun --nproc_per_node N -m model_tools train ...) the processes train data-parallel.",
    )
    parser.add_argument("--arch", required=True, choices=("linear", "dnn", "cnn", "resnet"))
    parser.add_argument("--widths", type=int, nargs="+", default=None, metavar="W",
                        help="channels per stage: cnn two (default 32 64), resnet three (default 32 64 "
                             "128); multiply-adds grow with their square")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    parser.add_argument("--batch-size", type=int, default=128,
                        help="images per step, over all processes (each of N takes batch/N)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--class-weights", choices=CLASS_WEIGHTS, default="none",
                        help="inverse-frequency: weight each class's loss by n/(k*n_c); byclass-mix: by "
                        "share_byclass(c)/share_train(c), to fit NIST's ByClass class mix")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random affine + elastic distortions (default: on for cnn and resnet, off "
                             "otherwise)")
    parser.add_argument("--eval-every", type=int, default=200, metavar="N",
                        help="evaluate on the validation images every N steps (and at the end)")
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                        help="cosine: anneal the learning rate to 0 over the run")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--mixing", choices=MIXING, default="none",
                        help="blend each training image with another of its batch: mixup (weighted average) "
                             "or cutmix (a pasted box); the loss mixes the two labels alike (default: none)")
    parser.add_argument("--mixing-alpha", type=float, default=0.2, metavar="A",
                        help="the blend's share lam ~ Beta(A, A) (default 0.2)")
    parser.add_argument("--teacher", action="append", default=None, metavar="MODEL",
                        help="distil from this model (repeatable): a checkpoint (.pt) or an ONNX file of the "
                             "serving contract; the mean of the teachers' softened softmax on each training "
                             "batch is a soft target beside the labels (Hinton et al. 2015)")
    parser.add_argument("--distill-weight", type=float, default=0.5, metavar="W",
                        help="with --teacher: the loss is W * T^2 * KL(teachers || student at T) + (1 - W) * "
                             "the hard-label loss (0 < W <= 1; default 0.5)")
    parser.add_argument("--distill-temperature", type=float, default=2.0, metavar="T",
                        help="with --teacher: the softmax temperature of teachers and student in the soft "
                             "loss (default 2)")
    parser.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                        help="validate and keep an exponential moving average of the weights with this decay "
                             "per step, e.g. 0.999 (default 0: the weights themselves)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads per process, fixed for determinism (default 1: on a busy "
                        "2-core machine 2 threads oversubscribe the cores and run several times slower)")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA (float16 mixed precision) when a GPU is visible, else the CPU")
    parser.add_argument("--train-limit", type=int, default=None, metavar="N",
                        help="use only the first N training images (quick checks; the pool is stored class "
                             "by class, so they are a few classes)")
    parser.add_argument("--train-fraction", type=float, default=None, metavar="F",
                        help="use this share of every class's real training images, drawn with --seed "
                             "(a learning curve: what more data would be worth); before --train-limit")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="train on NIST's files instead of the shipped split: the folder `download` "
                        "wrote (ByClass idx), an emnist-<split>-train-images-idx3-ubyte[.gz] or an "
                        "emnist-<split>.mat; --validation-images of them are held out to validate")
    parser.add_argument("--validation-images", type=int, default=DEFAULT_VALIDATION_IMAGES, metavar="N",
                        help=f"with --data: images held out (seeded) for validation (default "
                        f"{DEFAULT_VALIDATION_IMAGES:,})")
    parser.add_argument("--synthetic", nargs="?", const=str(DEFAULT_DATA_DIR / SYNTHETIC_FILE), default=None,
                        metavar="NPZ", help="mix in characters drawn from fonts (default file "
                        f"data/{SYNTHETIC_FILE}); their held-out fonts are validated apart")
    parser.add_argument("--synthetic-classes", choices=SYNTHETIC_CLASSES, default="missing",
                        help="missing: only classes without real training images (default); all: all 62")
    parser.add_argument("--synthetic-weight", type=float, default=1.0,
                        help="loss weight of a synthetic image relative to a real one (default 1)")
    parser.add_argument("--class-weight-power", type=float, default=1.0, metavar="P",
                        help="temper --class-weights: each class weight to the power P (0-1; default 1, the "
                        "full balance; 0.5 halves it on a log scale)")
    parser.add_argument("--case-prior", choices=CASE_PRIORS, default="byclass",
                        help="with byclass-mix, the class shares of letters only synthetic images teach: "
                        "NIST's (default, as for every other letter) or even: 50/50 between the two cases")
    parser.add_argument("--data-dir", default=None, help="data folder (default: the shipped data/)")
    parser.add_argument("--no-test", action="store_true",
                        help="do not score the kept-aside test split at the end")
    parser.add_argument("--out", required=True, help="run folder, e.g. runs/cnn")
    parser.set_defaults(func=run)
