"""The model-info file of a version folder: written and read by the contract, refused when malformed."""

from __future__ import annotations

import json

import pytest

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.layout import (
    MODEL_INFO_FILE,
    UNTRAINED_CLASSES_KEY,
    model_info_text,
    parse_model_info,
)


def test_the_file_lives_where_tf_serving_ignores_it():
    assert MODEL_INFO_FILE.as_posix() == "assets.extra/model_info.json"


def test_written_and_read_back_in_label_order():
    text = model_info_text(["z", "J", "Q"], BYCLASS_LABELS, source="runs/cnn/metrics.json")
    document = json.loads(text)
    assert document == {UNTRAINED_CLASSES_KEY: ["J", "Q", "z"], "source": "runs/cnn/metrics.json"}
    assert parse_model_info(text, BYCLASS_LABELS) == ("J", "Q", "z")
    assert parse_model_info(json.dumps({UNTRAINED_CLASSES_KEY: []}), BYCLASS_LABELS) == ()


def test_unknown_keys_are_skipped_and_a_missing_list_means_none():
    assert parse_model_info('{"trained_on": "EMNIST ByClass"}', BYCLASS_LABELS) == ()
    assert parse_model_info('{"classes_without_training_images": ["a"], "x": 1}', BYCLASS_LABELS) == ("a",)


def test_the_labels_of_the_version_decide_the_order():
    reversed_labels = tuple(reversed(BYCLASS_LABELS))
    assert parse_model_info('{"classes_without_training_images": ["0", "z"]}', reversed_labels) == ("z", "0")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"classes_without_training_images": "JQ"}', "must be a list"),
        ('{"classes_without_training_images": ["!"]}', "'!', not one of the labels"),
        ('{"classes_without_training_images": [1]}', "1, not one of the labels"),
        ('{"classes_without_training_images": ["J", "J"]}', "lists a class twice"),
    ],
)
def test_malformed_files_are_refused_with_the_place_named(text, message):
    with pytest.raises(ValueError, match="info.json") as raised:
        parse_model_info(text, BYCLASS_LABELS, "v1/info.json")
    assert message in str(raised.value)


def test_the_writer_refuses_what_the_reader_would():
    with pytest.raises(ValueError, match="not one of the labels"):
        model_info_text(["ß"], BYCLASS_LABELS)
