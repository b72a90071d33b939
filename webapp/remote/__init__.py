"""The app as a front end to remote model servers (setting ``MODEL_SERVER``).

``RemoteInferenceService`` answers the calls the front ends make of the in-process inference service by
asking TF Serving-compatible model servers over gRPC (``grpc_server``) or TF Serving's REST API
(``http_server``), balancing over several and retrying on the next one when one is unavailable.
"""
