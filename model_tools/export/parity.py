"""Parity of two implementations of one model on the same real images: the check every translation step
passes (the ONNX export against PyTorch, an imported model against its original file, a SavedModel
against its ONNX file and checkpoint) before it writes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest absolute difference of probabilities allowed between two implementations of one model.
PARITY_ATOL = 1e-5


@dataclass
class Parity:
    """How far two implementations of one model are apart on the same images."""

    reference: str
    candidate: str
    images: int
    max_abs_diff: float
    argmax_mismatches: int

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= PARITY_ATOL and self.argmax_mismatches == 0

    def describe(self) -> str:
        return (f"{self.candidate} vs {self.reference} on {self.images} images: max |diff| "
                f"{self.max_abs_diff:.3g} (limit {PARITY_ATOL:g}), "
                f"argmax mismatches {self.argmax_mismatches}")


def compare_scores(reference: np.ndarray, candidate: np.ndarray, *, reference_name: str,
                   candidate_name: str) -> Parity:
    """Parity of two [N, 62] score arrays."""
    if reference.shape != candidate.shape:
        raise ValueError(f"{candidate_name} gave shape {candidate.shape}, {reference_name} {reference.shape}")
    return Parity(
        reference=reference_name,
        candidate=candidate_name,
        images=int(reference.shape[0]),
        max_abs_diff=float(np.max(np.abs(reference.astype(np.float64) - candidate.astype(np.float64)))),
        argmax_mismatches=int(np.sum(reference.argmax(axis=1) != candidate.argmax(axis=1))),
    )
