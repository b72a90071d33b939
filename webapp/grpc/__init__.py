"""gRPC front ends over the serving core.

TensorFlow Serving's PredictionService and ModelService: the servicers translate the stock
``tensorflow-serving-api`` messages into calls of the one inference service and its answers back
(``prediction_service``, ``model_service``, tensors in ``tensors``); the Open Inference Protocol's
GRPCInferenceService is ``v2_servicer``. ``server`` assembles one process's gRPC server with all of
them, ``workers`` runs several such processes on one port. Every servicer makes its core request with
``calls.inference_request`` and answers refusals through ``status.rpc``.
"""
