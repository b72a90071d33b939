"""Transitional: ``webapp`` still imports these names from here; they live in ``emnist_contract.signatures``.

Delete this module once the serving side imports ``emnist_contract`` (the serving rewrite).
"""

from emnist_contract.signatures import (  # noqa: F401 - re-exported for webapp only
    CLASSES_KEY,
    CLASSIFY_INPUT_KEY,
    CLASSIFY_METHOD,
    CLASSIFY_SIGNATURE,
    SCORES_KEY,
)
