"""The choices the static commands offer as options (element types, output formats, training
memory's optimizers and devices), apart from the code that uses them: declaring a command's
options imports this alone, so a command answered from the result cache loads no analysis."""

from __future__ import annotations

DTYPE_BYTES = {"fp32": 4, "fp16": 2, "bf16": 2, "fp64": 8}
#: training memory's choices (analysis.training): copies of the trainable parameters each
#: optimizer keeps (momentum; Adam's two moments), and the devices whose dropout masks differ
OPTIMIZER_COPIES = {"sgd": 0, "sgd-momentum": 1, "adam": 2, "adamw": 2}
TRAINING_DEVICES = ("cuda", "cpu")
#: summary's and flops' output formats (report)
FORMATS = ("table", "json", "csv", "markdown")
