"""Converters from the ONNX/TorchScript exports to edge runtimes; export.py drives them (optional packages)."""
