"""Deployment: a quantized network as files other tools open (packed safetensors, ONNX with integer
operators) and the re-run that puts a record's retrained network at hand to export."""
