"""The torch side of a spec; imports errors, layers, spec and analysis.

build (the nn.Module built from an analysis), verify (every layer against the analysis), memory
(autograd's saved tensors, the oracle of the training-memory rule), export (pt2, ONNX,
TorchScript), checkpoint (files that carry their spec), rebuild (a checkpoint's model from the
spec it carries), pretrained (published weights into a spec's keys), fetch (hash-checked
downloads), onnximport (`cnncli import`: an ONNX file's spec with its weights, checked
against onnxruntime), compat (the torch APIs that differ across the releases cnncli supports).

The enumerations the CLI offers live here, free of torch, so that listing them loads nothing."""

#: the files export writes
EXPORT_FORMATS = ("pt2", "onnx", "torchscript")
#: where verify runs the model: meta allocates nothing
VERIFY_DEVICES = ("meta", "cpu", "cuda")
