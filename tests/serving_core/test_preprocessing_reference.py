"""The upload preprocessing gives the 28x28 image, and the answer, that it gave with scikit-image.

Every upload of real characters (test_images/ as they are and drawn large, photo fixtures, canvas
drawings, the pages the other preprocessing tests build) goes through ``preprocess_image`` and through
the scikit-image version (``tests/support/skimage_preprocessing.py``). Tolerance 1e-5 on [0, 1] pixels:
every step is scikit-image's to the bit except the cubic zoom, which is equal to float64 rounding (about
1e-15) and so may land one float32 step (6e-8) apart; 1e-5 leaves a wide margin for that through the
blur, the second zoom and the division by the peak, and is far below one grey level (1/255 = 4e-3).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from emnist_contract.labels import BYCLASS_LABELS
from emnist_contract.tensors import NUM_PIXELS
from serving_core.engines import load_engine
from serving_core.preprocessing import EmptyImageError, preprocess_image
from tests.support import skimage_preprocessing
from tests.support.imaging_inputs import emnist_characters, upload_files
from tests.support.model_versions import TEST_ENGINE_OPTIONS
from tests.support.paths import case_twin_test_images, encode_image, labelled_test_images, served_version_dir
from tests.support.photos import pen_photo

LIMIT = 40_000_000
TOLERANCE = 1e-5


def built_pages() -> list[tuple[str, bytes]]:
    """The pages test_preprocessing.py builds: a tall bar, a light gradient, transparent canvases, a
    character in a phone-sized photo, several formats."""
    bar = np.full((400, 300), 250, np.uint8)
    bar[50:350, 140:160] = 20
    ys, xs = np.mgrid[0:300, 0:400] / 400.0
    gradient = 0.95 - 0.6 * xs - 0.2 * ys
    gradient[100:200, 60:70] -= 0.35
    pixels = emnist_characters()[0]
    big = np.asarray(Image.fromarray(pixels).resize((140, 140), Image.BICUBIC))
    black_ink = np.zeros((140, 140, 4), np.uint8)
    black_ink[..., 3] = big
    white_ink = black_ink.copy()
    white_ink[..., :3] = 255
    rgb = np.stack([255 - big] * 3, axis=-1)
    pages = [("tall bar", encode_image(bar)),
             ("light gradient", encode_image((np.clip(gradient, 0, 1) * 255).astype(np.uint8))),
             ("black ink on transparent", encode_image(black_ink)),
             ("white ink on transparent", encode_image(white_ink)),
             ("phone-sized photo", pen_photo(emnist_characters()[1], 7, (2400, 1800)))]
    pages += [(image_format, encode_image(rgb, image_format)) for image_format in ("JPEG", "GIF", "WEBP")]
    return pages


UPLOADS = [*upload_files(), *built_pages()]


@pytest.fixture(scope="module")
def engine():
    return load_engine("onnxruntime", served_version_dir(), TEST_ENGINE_OPTIONS)


@pytest.mark.parametrize("data", [pytest.param(data, id=name) for name, data in UPLOADS])
def test_upload_preprocesses_as_with_scikit_image(engine, data):
    expected = skimage_preprocessing.preprocess_image(data, LIMIT)
    found = preprocess_image(data, LIMIT)
    assert found.dtype == np.float32 and found.shape == (NUM_PIXELS,)
    np.testing.assert_allclose(found, expected, rtol=0, atol=TOLERANCE)
    predictions = engine.predict(np.stack([found, expected]))
    assert BYCLASS_LABELS[int(predictions[0].argmax())] == BYCLASS_LABELS[int(predictions[1].argmax())]


def test_the_uploads_cover_every_test_image_and_real_photos():
    names = [name for name, _ in UPLOADS]
    every_file = len(labelled_test_images()) + len(case_twin_test_images())
    assert sum(name.endswith(".png") for name in names) == every_file  # test_images/, as they are
    assert sum("photo" in name for name in names) >= 30 and sum("canvas" in name for name in names) >= 10


@pytest.mark.parametrize("shape", [(200, 300), (3, 500), (1, 1), (40, 1)])
@pytest.mark.parametrize("value", [0, 255])
def test_blank_images_are_refused_by_both(shape, value):
    data = encode_image(np.full(shape, value, np.uint8))
    for preprocess in (preprocess_image, skimage_preprocessing.preprocess_image):
        with pytest.raises(EmptyImageError, match="blank"):
            preprocess(data, LIMIT)
