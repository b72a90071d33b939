"""Data stage: NIST's EMNIST files, the shipped splits in ``data/``, download and exploration report."""
