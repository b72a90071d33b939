"""Model development: PyTorch networks, augmentation, training, checkpoints, metrics, plots, evaluation."""
