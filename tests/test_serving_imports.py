"""The serving path imports neither SciPy nor scikit-image (the slim image does not have them).

A fresh interpreter imports the serving core, the app factory and the preprocessing, builds the app over
the bundled model and answers an uploaded photo through the page's API and TF Serving's REST API; then
no ``scipy`` or ``skimage`` module may be loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.paths import REPO
from tests.support.photos import pen_photo

SERVE_AN_UPLOAD = """
import base64, io, json, sys
import serving_core, serving_core.preprocessing
from serving_core.preprocessing import preprocess_image
from webapp.http.app import create_app
from tests.support.apps import app_config, stop_app

photo = open(sys.argv[1], "rb").read()
app = create_app(app_config())
client = app.test_client()
upload = client.post("/predict", data={"image": [(io.BytesIO(photo), "photo.jpg")]},
                     content_type="multipart/form-data")
rest = client.post("/v1/models/emnist:predict",
                   json={"instances": [{"b64": base64.b64encode(photo).decode()}]})
preprocess_image(photo, 40_000_000)
if sys.argv[2] == "and-the-reference":
    from tests.support.skimage_preprocessing import preprocess_image as reference
    reference(photo, 40_000_000)
stop_app(app)
loaded = sorted(name for name in sys.modules if name.split(".")[0] in ("scipy", "skimage"))
print(json.dumps({"statuses": [upload.status_code, rest.status_code], "loaded": loaded}))
"""


def serve_an_upload(photo, *extra: str) -> dict:
    result = subprocess.run([sys.executable, "-c", SERVE_AN_UPLOAD, str(photo), *extra], capture_output=True,
                            text=True, timeout=180, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def photo(tmp_path, validation_images):
    path = tmp_path / "photo.jpg"
    path.write_bytes(pen_photo(validation_images[0][0], seed=3))
    return path


def test_serving_an_upload_loads_no_scipy_or_scikit_image(photo):
    answer = serve_an_upload(photo, "serving-only")
    assert answer["statuses"] == [200, 200]
    assert answer["loaded"] == []


def test_the_check_sees_them_when_they_are_used(photo):
    # The scikit-image version of the preprocessing, run in the same script, loads both.
    loaded = serve_an_upload(photo, "and-the-reference")["loaded"]
    assert "skimage.filters" in loaded and "scipy.ndimage" in loaded
