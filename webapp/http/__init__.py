"""The HTTP front end: a Flask app (factory, error handlers, one blueprint per concern) and its fast path."""
