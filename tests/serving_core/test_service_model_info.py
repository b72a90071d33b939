"""The inference service passes on what a version's model info says: the classes it cannot answer."""

from __future__ import annotations

import numpy as np

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.tensors import NUM_PIXELS
from serving_core.request import ModelSpec
from tests.support.model_versions import copy_served_version
from tests.support.paths import SERVED_MODEL
from tests.support.requests import inference_request


def test_scores_and_metadata_name_the_untrained_classes(make_core, tmp_path):
    copy_served_version(tmp_path, list("zQJ"))
    core = make_core(tmp_path / SERVED_MODEL)
    core.start()
    spec = ModelSpec(SERVED_MODEL)
    scores = core.service.scores(inference_request(spec, np.zeros((2, NUM_PIXELS), np.float32)))
    assert scores.untrained_classes == ("J", "Q", "z")
    metadata = core.service.metadata(spec)
    assert metadata.untrained_classes == ("J", "Q", "z") and metadata.labels == BYCLASS_LABELS


def test_without_model_info_nothing_is_untrained(make_core, tmp_path):
    copy_served_version(tmp_path, None)
    core = make_core(tmp_path / SERVED_MODEL)
    core.start()
    assert core.service.metadata(ModelSpec(SERVED_MODEL)).untrained_classes == ()
