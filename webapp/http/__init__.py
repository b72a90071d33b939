"""The HTTP front ends: the Flask app (factory, error handlers), one module per protocol declaring its
routes once (``routing``), the hot routes also answered below Flask, and the gunicorn worker."""
