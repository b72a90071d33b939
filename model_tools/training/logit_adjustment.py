"""``logit-adjust``: move a trained model's class prior to the class mix it will be scored on.

A classifier trained on one class mix (pi_train: the loss's class mix, NIST's ByClass shares for the
bundled runs) answers the frequent twin of look-alike characters. Post-hoc logit adjustment (Menon et al.,
"Long-tail learning via logit adjustment", ICLR 2021) adds ``tau * (log pi_target - log pi_train)`` to the
logits: with tau = 1 the softmax's prior becomes the target mix's. The target is one of three mixes:
``byclass`` (NIST's ByClass shares), ``uniform`` (every class alike: balanced accuracy) or ``train`` (the
training images' own mix, which the stratified validation split shares). tau is chosen on the real
validation images only, by one of two rules: ``best`` maximises their accuracy re-weighted to the target
mix; ``keep-byclass`` moves towards the target mix as far as the validation accuracy re-weighted to
NIST's ByClass mix does not drop below the unadjusted model's (a model scored on NIST's mix that gains the
target mix's answers where they cost nothing). The adjustment is a change of the last layer's bias, so
the network and its export stay the same.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.data.datasets import DEFAULT_DATA_DIR, SYNTHETIC_FILE, load_split, to_model_input
from model_tools.training.class_offsets import check_run_folders
from model_tools.training.metrics import byclass_frequencies, prior_weighted_accuracy

log = logging.getLogger(__name__)

#: The class mixes a deployment can ask for (``--prior``).
PRIORS = ("train", "byclass", "uniform")
#: The tau values tried on validation: 0 (the model as trained) to 2 in steps of 0.1.
TAU_GRID = tuple(round(0.1 * step, 1) for step in range(21))
#: How tau is chosen on validation (``--tau-rule``), and what each rule does.
TAU_RULES = {
    "best": "tau maximises the real validation accuracy re-weighted to the target mix",
    "keep-byclass": "tau is the largest of the grid up to which the real validation accuracy re-weighted "
                    "to NIST's ByClass mix stays at least the unadjusted model's",
}


def training_class_mix(config: dict[str, Any], data_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(pi_train, pool_mix): the class mix the run's loss fitted (every training image's loss weight
    summed per class, as ``train`` weighted them) and the training images' own class mix (counts).

    Rebuilt from the run's config and the shipped data; a run on NIST's full files (``--data``) is refused
    (its pool is not shipped)."""
    from model_tools.training.image_pool import even_case_prior, sample_weights, training_rows
    from model_tools.training.train_command import synthetic_source

    if config.get("data"):
        raise ValueError(f"the run was trained on {config['data']}: its class mix is not rebuilt from the "
                         "shipped data")
    _, labels = load_split("train", data_dir)
    labels = labels[training_rows(labels, config.get("train_fraction"), config.get("train_limit"),
                                  config.get("seed", 0))]
    synthetic = np.zeros(len(labels), dtype=bool)
    if config.get("synthetic"):
        path = Path(data_dir or DEFAULT_DATA_DIR) / SYNTHETIC_FILE  # the shipped drawings, wherever trained
        drawn = synthetic_source(path, labels, config.get("synthetic_classes", "missing")).labels
        labels = np.concatenate([labels, drawn])
        synthetic = np.concatenate([synthetic, np.ones(len(drawn), dtype=bool)])
    prior = byclass_frequencies(data_dir)
    counts = np.bincount(labels, minlength=NUM_CLASSES).astype(np.float64)
    if config.get("case_prior") == "even":
        real = np.bincount(labels[~synthetic], minlength=NUM_CLASSES)
        prior = even_case_prior(prior, list(np.flatnonzero((real == 0) & (counts > 0))))
    weights = sample_weights(labels, synthetic, config.get("synthetic_weight", 1.0),
                             config.get("class_weights", "none"), prior,
                             config.get("class_weight_power", 1.0))
    mass = np.bincount(labels, weights=weights.astype(np.float64), minlength=NUM_CLASSES)
    return mass / mass.sum(), counts / counts.sum()


def target_mix(prior: str, pool_mix: np.ndarray, data_dir: Path | None = None) -> np.ndarray:
    """The class mix named by ``--prior``, float64 [62] summing to 1."""
    if prior == "byclass":
        return np.asarray(byclass_frequencies(data_dir), dtype=np.float64)
    if prior == "uniform":
        return np.full(NUM_CLASSES, 1.0 / NUM_CLASSES)
    if prior == "train":
        return np.asarray(pool_mix, dtype=np.float64)
    raise ValueError(f"unknown prior {prior!r}; expected one of {', '.join(PRIORS)}")


def adjustment(train_mix: np.ndarray, target: np.ndarray, tau: float) -> np.ndarray:
    """``tau * (log target - log train_mix)`` per class, float64 [62], centred on 0; 0 for a class either
    mix gives no mass (no training image, or a target without it: nothing to move it by)."""
    train_mix, target = np.asarray(train_mix, np.float64), np.asarray(target, np.float64)
    both = (train_mix > 0) & (target > 0)
    shift = np.zeros(NUM_CLASSES)
    shift[both] = tau * (np.log(target[both]) - np.log(train_mix[both]))
    shift[both] -= shift[both].mean()  # a constant changes no softmax; centring keeps the bias small
    return shift


def _adjusted_score(logits: np.ndarray, labels: np.ndarray, train_mix: np.ndarray, target: np.ndarray,
                    tau: float, scored_on: np.ndarray) -> float:
    """Accuracy of the logits adjusted by tau towards ``target``, re-weighted to the mix ``scored_on``."""
    predictions = (logits + adjustment(train_mix, target, tau)).argmax(axis=1)
    score = prior_weighted_accuracy(labels, predictions, scored_on)
    return float(score) if score is not None else 0.0


def choose_tau(logits: np.ndarray, labels: np.ndarray, train_mix: np.ndarray, target: np.ndarray,
               grid: tuple[float, ...] = TAU_GRID) -> tuple[float, dict[float, float]]:
    """The tau of ``grid`` whose adjusted predictions score best on (validation) ``labels`` re-weighted to
    ``target``; ties go to the smaller tau (the model closer to its training). Also every tau's score."""
    scores = {float(tau): _adjusted_score(logits, labels, train_mix, target, tau, target) for tau in grid}
    best = max(scores.values())
    return min(tau for tau, score in scores.items() if score == best), scores


def tau_keeping_byclass(logits: np.ndarray, labels: np.ndarray, train_mix: np.ndarray, target: np.ndarray,
                        byclass: np.ndarray, grid: tuple[float, ...] = TAU_GRID,
                        ) -> tuple[float, dict[float, float]]:
    """The largest tau of ``grid`` (ascending from 0) before the first whose adjusted predictions score
    below tau = 0 on (validation) ``labels`` re-weighted to ``byclass``; also each tried tau's ByClass
    score. A step that costs the ByClass mix ends the walk, so a later lucky tau is never taken."""
    scores: dict[float, float] = {}
    chosen = float(grid[0])
    for tau in grid:
        scores[float(tau)] = _adjusted_score(logits, labels, train_mix, target, tau, byclass)
        if scores[float(tau)] < scores[float(grid[0])]:
            break
        chosen = float(tau)
    return chosen, scores


def adjust_run(run: Path, out: Path, prior: str, tau: float | None = None,
               data_dir: Path | None = None, tau_rule: str = "best") -> dict[str, Any]:
    """Write ``out`` (checkpoint.pt, metrics.json): the run's model with its logits moved to ``prior``'s
    class mix (tau given, or chosen on the real validation images by ``tau_rule``), its reports measured
    again."""
    import torch

    from model_tools.training.checkpoint import load_checkpoint
    from model_tools.training.class_offsets import apply_offsets, run_reports, save_derived_run
    from model_tools.training.train import predict_logits

    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; expected one of {', '.join(PRIORS)}")
    if tau is not None and not 0 <= tau <= 10:
        raise ValueError(f"tau must be between 0 and 10, got {tau}")
    if tau_rule not in TAU_RULES:
        raise ValueError(f"unknown tau rule {tau_rule!r}; expected one of {', '.join(TAU_RULES)}")
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    train_mix, pool_mix = training_class_mix(metrics.get("config", {}), data_dir)
    target = target_mix(prior, pool_mix, data_dir)
    scores: dict[float, float] = {}
    if tau is None:
        images, labels = load_split("validation", data_dir)
        logits = predict_logits(checkpoint.model, torch.from_numpy(to_model_input(images))).numpy()
        if tau_rule == "keep-byclass":
            tau, scores = tau_keeping_byclass(logits, labels, train_mix, target,
                                              byclass_frequencies(data_dir))
        else:
            tau, scores = choose_tau(logits, labels, train_mix, target)
    shift = adjustment(train_mix, target, tau)
    apply_offsets(checkpoint.model, shift)
    reports = run_reports(checkpoint.model, metrics, data_dir)
    metrics.update(reports)
    metrics["logit_adjustment"] = {
        "from_run": str(run), "prior": prior, "tau": tau,
        "chosen_on": "validation" if scores else "given",
        "validation_score_by_tau": {f"{t:g}": s for t, s in scores.items()},
        "offsets": dict(zip(BYCLASS_LABELS, (round(float(v), 6) for v in shift), strict=True)),
        "rule": "logits + tau * (log target mix - log training loss mix) (Menon et al. 2021); "
                + (TAU_RULES[tau_rule] if scores else "tau given"),
    }
    if scores:
        metrics["logit_adjustment"]["tau_rule"] = tau_rule
    return save_derived_run(checkpoint, metrics, reports, out)


def _command(args: argparse.Namespace) -> int:
    run, out = Path(args.run), Path(args.out)
    check_run_folders(run, out)
    metrics = adjust_run(run, out, args.prior, args.tau, Path(args.data_dir) if args.data_dir else None,
                         args.tau_rule)
    adjusted = metrics["logit_adjustment"]
    print(f"prior {adjusted['prior']}, tau {adjusted['tau']:g} ({adjusted['chosen_on']})")
    summary = metrics["summary"]
    print(f"validation: {summary['val_accuracy'] * 100:.2f} % exact, "
          f"{summary['val_accuracy_byclass_mix'] * 100:.2f} % ByClass mix; classes predicted "
          f"{len(metrics['classes_predicted_on_validation'])} of {NUM_CLASSES}")
    print(f"wrote {out}/checkpoint.pt and {out}/metrics.json")
    return 0


def add_prior_options(parser: argparse.ArgumentParser, required: bool) -> None:
    """``--prior`` and ``--tau``, shared by ``logit-adjust`` and ``pipeline``."""
    parser.add_argument("--prior", choices=PRIORS, required=required, default=None,
                        help="the class mix to serve: train (the training images' own mix, which the "
                             "validation split shares), byclass (NIST's ByClass shares) or uniform")
    parser.add_argument("--tau", type=float, default=None,
                        help="strength of the adjustment (default: chosen on the real validation images "
                             f"among {TAU_GRID[0]:g}..{TAU_GRID[-1]:g} by --tau-rule)")
    parser.add_argument("--tau-rule", choices=tuple(TAU_RULES), default="best",
                        help="best (default): the tau scoring best on validation under the target mix; "
                             "keep-byclass: the largest tau that keeps validation's ByClass-mix accuracy "
                             "(serve NIST's mix, gain the target mix's answers where they cost nothing)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "logit-adjust", help="move a trained model's class prior to the class mix it will be scored on",
        description="Copy a training run with its logits adjusted by tau * (log target mix - log training "
                    "mix) (Menon et al. 2021): the bias of the last layer. tau is chosen on the real "
                    "validation images unless given; the validation reports are measured again; the new "
                    "folder goes through `pipeline` like any run.")
    parser.add_argument("run", help="training run folder, e.g. runs/cnn62")
    parser.add_argument("--out", required=True, help="the new run folder, e.g. runs/cnn62-uniform")
    add_prior_options(parser, required=True)
    parser.add_argument("--data-dir", default=None,
                        help="the shipped data folder (default: the project's data/)")
    parser.set_defaults(func=_command)
