"""What a network is trained for, read from its analysed output shape, in this one place.

- classification: the output is a vector of class scores (`classes`);
- segmentation: the output is `classes x H x W` at the input's own H x W (a score per class
  per pixel);
- anything else (a detector's 84x8400, a feature map) cannot be trained by cnncli, and the
  refusal says what the spec is good for instead.

Free of torch: the shape comes from the static analysis.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..analysis.analyze import analyze_network
from ..errors import UsageError
from ..layers import shape_text
from ..spec.ir import Network

#: the pixel value that marks a void pixel in a mask (VOC's object borders): never scored
VOID = 255


class Task(Enum):
    CLASSIFICATION = "classification"
    SEGMENTATION = "segmentation"


@dataclass(frozen=True)
class Head:
    """A network's output read as a training target: the task and its number of classes."""

    task: Task
    classes: int

    @property
    def segmentation(self) -> bool:
        return self.task is Task.SEGMENTATION


def head_of(network: Network) -> Head:
    """The task a network's output serves, or one sentence saying why it cannot be trained."""
    out = tuple(analyze_network(network).output)
    size = tuple(network.input)[1:]
    if len(out) == 1:
        return Head(Task.CLASSIFICATION, out[0])
    if len(out) == 3 and len(size) == 2 and out[1:] == size:
        return Head(Task.SEGMENTATION, out[0])
    raise UsageError(
        f"{network.name} outputs {shape_text(out)}, but training needs a classification head "
        "(a vector of class scores: end the spec with flatten + linear) or a segmentation "
        f"head (classes x {shape_text(size) if size else 'H x W'}, the input's size); the "
        "spec still works with summary, verify, export and bench")
