"""Utilities every stage uses (atomic file output); they import no stage of ``model_tools``."""
