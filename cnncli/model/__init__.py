"""The torch side of a spec: the nn.Module built from an analysis (build), its layer-by-layer
check against the analysis (verify), ONNX/TorchScript export (export) and checkpoints that
carry their spec (checkpoint). Imports errors, layers, spec and analysis."""
