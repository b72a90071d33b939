"""What ``metrics.json`` holds about a run: its config, curves, reports and where its images came from.

Real and synthetic images are kept apart here too: the real validation report is ``validation``, the
held-out fonts' report ``validation_synthetic``; ``classes_from_synthetic_images`` lists the classes
that only synthetic images taught, ``classes_without_training_images`` those no image taught at all
(the serving side shows both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES
from model_tools.training.image_pool import ImagePool


def classes_predicted(reports: dict[str, Any]) -> list[str]:
    """The classes the kept model predicts for at least one validation image (real or synthetic)."""
    predicted = np.zeros(NUM_CLASSES, dtype=bool)
    for name in ("validation", "validation_synthetic"):
        if reports.get(name):
            predicted |= np.asarray(reports[name]["confusion_matrix"]).sum(axis=0) > 0
    return [BYCLASS_LABELS[c] for c in np.flatnonzero(predicted)]


def report_summary(reports: dict[str, Any]) -> dict[str, Any]:
    """The accuracies of a run's reports that ``metrics.json``'s summary (and the checkpoint) carry."""
    validation, test = reports["validation"], reports.get("test")
    summary = {
        "val_accuracy": validation["accuracy"],
        "val_accuracy_case_insensitive": validation["accuracy_case_insensitive"],
        "val_accuracy_byclass_mix": validation["accuracy_byclass_mix"],
        "test_accuracy": test["accuracy"] if test else None,
        "test_accuracy_case_insensitive": test["accuracy_case_insensitive"] if test else None,
    }
    synthetic = reports.get("validation_synthetic")
    if synthetic:
        summary["val_synthetic_accuracy"] = synthetic["accuracy"]
        summary["val_synthetic_accuracy_case_insensitive"] = synthetic["accuracy_case_insensitive"]
    return summary


def run_metrics(config: dict[str, Any], pool: ImagePool, reports: dict[str, Any],
                curves: dict[str, list[float]], best: dict[str, Any], steps_per_epoch: int,
                total_steps: int, train_seconds: float, cpu_seconds: float, model: Any,
                device: Any) -> dict[str, Any]:
    """The content of ``metrics.json`` (without the checkpoint's sha256, added once it is written)."""
    import torch

    validation, test = reports["validation"], reports.get("test")
    synthetic_report = reports.get("validation_synthetic")
    real_counts, synthetic_counts = pool.class_counts(False), pool.class_counts(True)
    summary = {
        "best_step": best["step"],
        **report_summary(reports),
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    metrics: dict[str, Any] = {
        "config": config,
        "summary": summary,
        "train_images": len(pool),
        "train_images_real": int(real_counts.sum()),
        "train_images_synthetic": int(synthetic_counts.sum()),
        "validation_images": int(validation["images"]),
        "classes_without_training_images": [
            BYCLASS_LABELS[c] for c in np.flatnonzero(real_counts + synthetic_counts == 0)],
        "classes_from_synthetic_images": [
            BYCLASS_LABELS[c] for c in np.flatnonzero((real_counts == 0) & (synthetic_counts > 0))],
        "classes_predicted_on_validation": classes_predicted(reports),
        "steps_per_epoch": steps_per_epoch,
        "total_steps": total_steps,
        "wall_seconds": round(train_seconds, 1),
        "seconds_per_epoch": round(train_seconds / max(config["epochs"], 1), 1),
        "device": str(device),
        "torch_version": torch.__version__,
        "curves": curves,
        "best": best,
        "validation": validation,
        "per_class_accuracy": dict(zip(BYCLASS_LABELS, validation["recall"], strict=True)),
        "test": test,
    }
    if synthetic_report:
        metrics["validation_synthetic"] = synthetic_report
    return metrics
