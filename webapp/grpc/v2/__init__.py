"""The Open Inference Protocol's gRPC messages and service stubs (generated: see regenerate.py)."""
