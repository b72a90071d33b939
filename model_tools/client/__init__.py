"""Measuring deployments over HTTP: the serving client, accuracy and latency, throughput, their figures."""
