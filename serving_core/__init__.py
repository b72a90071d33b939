"""The serving core: model lifecycle, engines, batching, payload decoding and the one inference service.

It knows no transport (no Flask, HTTP or gRPC): every front end translates its protocol into calls of
``serving_core.service.InferenceService`` and its answers back, as TensorFlow Serving's model servers do
over its ``core/``.
"""
