"""The gRPC front end: TensorFlow Serving's PredictionService and ModelService over the serving core.

The servicers translate the stock ``tensorflow-serving-api`` messages into calls of the one inference
service and its answers back (``prediction_service``, ``model_service``, tensors in ``tensors``);
``server`` assembles one process's gRPC server, ``workers`` runs several of them on one port.
"""
