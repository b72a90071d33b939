"""The model lifecycle in TensorFlow Serving's roles, one module each.

``source`` lists a model's version folders, ``policy`` picks the ones to serve, ``loader`` opens, checks
and warms up one version, ``manager`` holds the versions' states and hands out pinned versions,
``watcher`` polls the folders (and SIGHUP), ``model_config`` reads which models to serve.
"""
