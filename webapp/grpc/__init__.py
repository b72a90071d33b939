"""gRPC front ends over the serving core."""
