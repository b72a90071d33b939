"""The SavedModel's serving signatures: names, keys and method names, as TF Serving's APIs use them.

``serving_default`` (Predict API): ``images`` float32 [-1, 784] -> ``scores`` float32 [-1, 62] only. One
output, because TF Serving answers a one-output signature with plain rows (``{"predictions": [[62
scores], ...]}``, what the blog's client reads) and a several-output one with an object per row.
``predict_images`` (Predict API): the same input -> ``scores`` and ``classes`` int64 [-1] (the argmax).
``classify`` (Classification API): ``inputs`` = serialized ``tf.Example`` strings with a float feature
``images`` of 784 values -> ``classes`` (the 62 label strings per example) and ``scores``.
"""

from __future__ import annotations

#: The MetaGraph tag TF Serving loads.
TAG = "serve"
DEFAULT_SIGNATURE = "serving_default"
PREDICT_IMAGES_SIGNATURE = "predict_images"
PREDICT_SIGNATURES = (DEFAULT_SIGNATURE, PREDICT_IMAGES_SIGNATURE)
CLASSIFY_SIGNATURE = "classify"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
#: The input of the Predict signatures.
INPUT_KEY = "images"
#: TF Serving's Classification API requires exactly these keys (signature_constants.CLASSIFY_*).
CLASSIFY_INPUT_KEY = "inputs"
SCORES_KEY = "scores"
CLASSES_KEY = "classes"
#: Name of the float feature holding the 784 pixels in a classify tf.Example.
EXAMPLE_FEATURE = "images"
#: The outputs of each Predict signature, in the order TF Serving lists them (sorted by key).
PREDICT_OUTPUTS = {DEFAULT_SIGNATURE: (SCORES_KEY,), PREDICT_IMAGES_SIGNATURE: (CLASSES_KEY, SCORES_KEY)}
