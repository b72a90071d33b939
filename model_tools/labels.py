"""Transitional: ``webapp`` still imports these names from here; they live in ``emnist_contract``.

Delete this module once the serving side imports ``emnist_contract`` (the serving rewrite).
"""

from emnist_contract.labels import BYCLASS_LABELS, NUM_CLASSES, class_group  # noqa: F401 - for webapp only
from emnist_contract.tensors import NUM_PIXELS  # noqa: F401 - re-exported for webapp only
