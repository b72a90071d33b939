"""The warmup records a conversion writes: TF Serving's PredictionLog protos that replay on the version."""

from __future__ import annotations

import numpy as np
import pytest

from model_tools.data.datasets import to_model_input

pytestmark = pytest.mark.slow


def test_warmup_records_are_real_requests_that_replay_on_the_model(translation, loaded_version,
                                                                   validation_split):
    import tensorflow as tf

    from model_tools.export.warmup_writer import read_warmup_requests

    records = read_warmup_requests(translation.version_dir)
    kinds = [record.WhichOneof("log_type") for record in records]
    assert kinds == ["predict_log", "predict_log", "classify_log"]
    first_images = to_model_input(validation_split[0][:32])  # the conversion's own check images
    for record, batch in zip(records[:2], (1, 32), strict=True):
        request = record.predict_log.request
        assert (request.model_spec.name, request.model_spec.signature_name) == ("emnist", "serving_default")
        images = tf.make_ndarray(request.inputs["images"])
        assert images.dtype == np.float32
        np.testing.assert_array_equal(images, first_images[:batch])
        out = loaded_version.signatures[request.model_spec.signature_name](images=tf.constant(images))
        assert out["scores"].shape == (batch, 62)
    classify = records[2].classify_log.request
    assert classify.model_spec.signature_name == "classify"
    (example,) = classify.input.example_list.examples
    np.testing.assert_array_equal(np.array(example.features.feature["images"].float_list.value, np.float32),
                                  first_images[0])
    out = loaded_version.signatures["classify"](inputs=tf.constant([example.SerializeToString()]))
    assert out["classes"].shape == (1, 62)


def test_missing_warmup_file_is_a_clear_error(tmp_path):
    from model_tools.export.warmup_writer import read_warmup_requests

    with pytest.raises(FileNotFoundError, match="no warmup records at .*/tf_serving_warmup_requests"):
        read_warmup_requests(tmp_path)
