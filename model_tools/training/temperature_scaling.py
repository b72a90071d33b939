"""``calibrate``: temperature scaling, so a model's top score means what it says.

The web page shows the top softmax score as a confidence cue. Label smoothing, mixup and distillation
leave a network under-confident (its scores too flat), plain cross-entropy over-confident. Temperature
scaling (Guo et al., "On calibration of modern neural networks", ICML 2017) divides the logits by one
number T > 0, chosen to minimise the negative log-likelihood of the real validation images only; the
answers (the argmax) do not change, only how sure they sound. The division is folded into the last
layer (its weights and bias over T), so the network and its export stay the same.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from model_tools.data.datasets import load_split, to_model_input

log = logging.getLogger(__name__)

#: The temperatures tried on validation: 0.25 to 4 in steps of 0.01 (1: the model as trained).
TEMPERATURE_GRID = tuple(round(0.01 * step, 2) for step in range(25, 401))


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean -log softmax(logits / T)[label] over the images."""
    logits = np.asarray(logits, np.float64) / temperature
    labels = np.asarray(labels, np.int64)
    return float(-_log_softmax(logits)[np.arange(len(labels)), labels].mean())


def choose_temperature(logits: np.ndarray, labels: np.ndarray,
                       grid: tuple[float, ...] = TEMPERATURE_GRID) -> float:
    """The T of ``grid`` with the smallest negative log-likelihood of (validation) ``labels``; ties to the
    T closest to 1 (the model as trained)."""
    if len(labels) == 0:
        raise ValueError("cannot choose a temperature on no images")
    scores = {t: negative_log_likelihood(logits, labels, t) for t in grid}
    best = min(scores.values())
    return min((t for t, score in scores.items() if score == best), key=lambda t: abs(t - 1.0))


def scale_logits(model: Any, temperature: float) -> None:
    """Divide the model's logits by ``temperature``, in place (its last layer's weights and bias)."""
    import torch

    from model_tools.training.class_offsets import last_linear

    if not (temperature > 0 and np.isfinite(temperature)):
        raise ValueError(f"the temperature must be a positive number, got {temperature}")
    layer = last_linear(model)
    with torch.no_grad():
        layer.weight /= temperature
        layer.bias /= temperature


def calibrate_run(run: Path, out: Path, temperature: float | None = None,
                  data_dir: Path | None = None) -> dict[str, Any]:
    """Write ``out`` (checkpoint.pt, metrics.json): the run's model with its logits divided by T (given, or
    chosen on the real validation images), the negative log-likelihood and calibration error of the real
    validation images before and after recorded; its reports measured again (the answers stay)."""
    import torch

    from model_tools.training.calibration import reliability
    from model_tools.training.checkpoint import load_checkpoint
    from model_tools.training.class_offsets import run_reports, save_derived_run
    from model_tools.training.train import predict_logits

    if temperature is not None and not (0 < temperature <= 100):
        raise ValueError(f"the temperature must be in (0, 100], got {temperature}")
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    images, labels = load_split("validation", data_dir)
    logits = predict_logits(checkpoint.model, torch.from_numpy(to_model_input(images))).double().numpy()
    chosen = temperature is None
    if chosen:
        temperature = choose_temperature(logits, labels)

    def softmax(t: float) -> np.ndarray:
        return np.exp(_log_softmax(logits / t))

    scale_logits(checkpoint.model, temperature)
    reports = run_reports(checkpoint.model, metrics, data_dir)
    metrics.update(reports)
    metrics["temperature_scaling"] = {
        "from_run": str(run), "temperature": temperature,
        "chosen_on": "validation" if chosen else "given",
        "validation_nll": {"before": negative_log_likelihood(logits, labels),
                           "after": negative_log_likelihood(logits, labels, temperature)},
        "validation_ece": {"before": reliability(softmax(1.0), labels)["expected_calibration_error"],
                           "after": reliability(softmax(temperature), labels)["expected_calibration_error"]},
        "rule": "logits / T (Guo et al. 2017); T minimises the real validation images' negative "
                f"log-likelihood among {TEMPERATURE_GRID[0]:g}..{TEMPERATURE_GRID[-1]:g}",
    }
    return save_derived_run(checkpoint, metrics, reports, out)


def _command(args: argparse.Namespace) -> int:
    from model_tools.training.class_offsets import check_run_folders

    run, out = Path(args.run), Path(args.out)
    check_run_folders(run, out)
    metrics = calibrate_run(run, out, args.temperature, Path(args.data_dir) if args.data_dir else None)
    scaled = metrics["temperature_scaling"]
    print(f"temperature {scaled['temperature']:g} ({scaled['chosen_on']})")
    nll, ece = scaled["validation_nll"], scaled["validation_ece"]
    print(f"validation: negative log-likelihood {nll['before']:.4f} -> {nll['after']:.4f}, calibration error "
          f"{ece['before'] * 100:.2f} % -> {ece['after'] * 100:.2f} %")
    print(f"wrote {out}/checkpoint.pt and {out}/metrics.json")
    return 0


def add_temperature_option(parser: argparse.ArgumentParser) -> None:
    """``--temperature``, for ``pipeline``: calibrate the model it exports."""
    parser.add_argument("--temperature", default=None, metavar="T|auto",
                        help="divide the logits by T before export (temperature scaling); auto: the T that "
                             "minimises the real validation images' negative log-likelihood (default: none)")


def parse_temperature(text: str | None) -> tuple[bool, float | None]:
    """``--temperature``'s value -> (calibrate?, T or None for chosen on validation)."""
    if text is None:
        return False, None
    if text.strip().lower() == "auto":
        return True, None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--temperature {text!r}: expected a number or auto") from None
    if not 0 < value <= 100:
        raise ValueError(f"--temperature must be in (0, 100], got {text}")
    return True, value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="temperature scaling: make a trained model's top score a fair confidence",
        description="Copy a training run with its logits divided by a temperature T (its last layer), T "
                    "chosen on the real validation images (lowest negative log-likelihood) unless given. "
                    "The answers do not change; the validation reports are measured again; the new folder "
                    "goes through `pipeline` like any run.")
    parser.add_argument("run", help="training run folder, e.g. runs/resnet62")
    parser.add_argument("--out", required=True, help="the new run folder, e.g. runs/resnet62-calibrated")
    parser.add_argument("--temperature", type=float, default=None, metavar="T",
                        help="the temperature (default: chosen on the real validation images among "
                             f"{TEMPERATURE_GRID[0]:g}..{TEMPERATURE_GRID[-1]:g})")
    parser.add_argument("--data-dir", default=None,
                        help="the shipped data folder (default: the project's data/)")
    parser.set_defaults(func=_command)
