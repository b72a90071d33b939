"""Translation: ONNX export and import, ONNX -> SavedModel in TF Serving's layout, verify, inspect."""
