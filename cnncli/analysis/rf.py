"""Receptive fields: how many input pixels one output position sees, and the cumulative
stride between neighbouring outputs, followed layer by layer."""

from __future__ import annotations

from ..records import Record


class RF(Record):
    """Receptive field of one output position: size and cumulative stride ('jump') per axis."""

    size: tuple[int, int]
    jump: tuple[int, int]

    def __init__(self, size: tuple[int, int] = (1, 1), jump: tuple[int, int] = (1, 1)) -> None:
        self.size, self.jump = size, jump

    def step(self, kernel: tuple[int, int], stride: tuple[int, int],
             up: tuple[int, int] = (1, 1)) -> RF:
        """After a layer; an upsampling one (`up` > 1) makes the jump jump / up where that
        is whole, else leaves it (a jump is whole: later sizes are then upper bounds)."""
        jumps = [j * s for j, s in zip(self.jump, stride)]
        return RF((self.size[0] + (kernel[0] - 1) * self.jump[0],
                   self.size[1] + (kernel[1] - 1) * self.jump[1]),
                  (_finer(jumps[0], up[0]), _finer(jumps[1], up[1])))

    def widest(self, other: RF) -> RF:
        return RF((max(self.size[0], other.size[0]), max(self.size[1], other.size[1])),
                  (max(self.jump[0], other.jump[0]), max(self.jump[1], other.jump[1])))


def _finer(jump: int, up: int) -> int:
    return jump // up if jump % up == 0 else jump
