"""Payload decoding: what clients send (JSON rows and columns, base64, ``.npy``, image files) -> model inputs.

Pure functions: no request object, no configuration lookup; the limits are passed in. Every front end
decodes through them, so a body means the same and is refused with the same message whatever the route.
"""
