"""Helpers the tests share that are not fixtures: paths, test images, model versions, photos, load."""
