"""2-D convolution."""

from __future__ import annotations

from typing import Any

from .base import Arg, ArgError, Calls, Cost, Figure, Layer, Saved, Shape, ShapeError, dot
from .window import axis_figures, elements, need_map, window_formula, window_output

#: input channels a group from which a grouped conv runs as dense convs, one a group
WIDE_GROUP = 16
#: input channels from which oneDNN (torch's CPU convs) copies the input into its blocked
#: layout on every call; a 3-channel image is read as it lies
BLOCKED_FROM = 16


class Conv(Layer):
    name = "conv"
    aliases = ("conv2d",)
    summary = "2-D convolution (torch.nn.Conv2d); input channels come from the previous layer"
    work = "MACs"
    counts_macs = True
    autocast = "half"
    weight_args = ("out", "kernel", "groups", "bias", "connections")
    out: Arg[int] = Arg("int", min=1, doc="output channels")
    kernel: Arg[tuple[int, int]] = Arg("pair", min=1, doc="kernel size, k or [kh, kw]")
    stride: Arg[tuple[int, int]] = Arg("pair", 1, min=1)
    padding: Arg[tuple[int, int] | str] = Arg("padding", 0, min=0,
                                               doc='p, [ph, pw], "same" (stride 1) or "valid"')
    dilation: Arg[tuple[int, int]] = Arg("pair", 1, min=1)
    groups: Arg[int] = Arg("int", 1, min=1, doc="channel groups; 1 is a full convolution")
    bias: Arg[bool] = Arg("bool", True)
    connections: Arg[tuple[tuple[int, ...], ...] | None] = Arg(
        "table", None, min=0,
        doc="for each output map, the input maps it reads (LeNet-5's Table I)")

    def validate(self) -> None:
        if self.padding == "same" and self.stride != (1, 1):
            raise ArgError('padding "same" needs stride 1 (PyTorch refuses strided "same")')
        if self.out % self.groups:
            raise ArgError(f"groups={self.groups} must divide out={self.out}")
        if self.connections is not None:
            if self.groups != 1:
                raise ArgError("give groups or connections, not both (each says which input "
                               "maps an output map reads)")
            if len(self.connections) != self.out:
                raise ArgError(f"connections has {len(self.connections)} rows but out is "
                               f"{self.out}: give one list of input maps per output map")

    def inputs_per_map(self, channels: int) -> list[int]:
        """How many input maps each output map reads."""
        if self.connections is None:
            return [channels // self.groups] * self.out
        for i, row in enumerate(self.connections):
            if row[-1] >= channels:
                raise ShapeError(f"connections[{i}] reads input map {row[-1]} but the input "
                                 f"has {channels} maps (0 to {channels - 1})")
        return [len(row) for row in self.connections]

    def pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """(before, after) padding per axis; "same" puts any odd extra after, as torch does."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        if self.padding == "same":
            total = [d * (k - 1) for k, d in zip(self.kernel, self.dilation)]
            return (total[0] // 2, total[0] - total[0] // 2), (total[1] // 2,
                                                               total[1] - total[1] // 2)
        assert isinstance(self.padding, tuple)
        return (self.padding[0],) * 2, (self.padding[1],) * 2  # type: ignore[return-value]

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map("conv", shape)
        if c % self.groups:
            raise ShapeError(f"groups={self.groups} must divide the {c} input channels")
        (ph0, ph1), (pw0, pw1) = self.pads()
        # Asymmetric "same" padding: window_output wants a symmetric pad, so fold the extra
        # element into the input size (it is all the same to the arithmetic).
        oh = window_output(h + ph1 - ph0, self.kernel[0], self.stride[0], ph0,
                           self.dilation[0], False, "H")
        ow = window_output(w + pw1 - pw0, self.kernel[1], self.stride[1], pw0,
                           self.dilation[1], False, "W")
        weights = sum(self.inputs_per_map(c)) * self.kernel[0] * self.kernel[1]
        bias = self.out if self.bias else 0
        return Cost(
            output=(self.out, oh, ow),
            params=weights + bias,
            macs=oh * ow * weights,
            other_ops=oh * ow * bias,
            connections=oh * ow * (weights + bias),
            rf_kernel=(self.dilation[0] * (self.kernel[0] - 1) + 1,
                       self.dilation[1] * (self.kernel[1] - 1) + 1),
            rf_stride=self.stride,
        )

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c, h, w = shape
        out, oh, ow = cost.output
        pads = self.pads()
        formulas = tuple(window_formula(size, k, s, p, d, False, o) for size, k, s, p, d, o in
                         zip((h, w), self.kernel, self.stride, pads, self.dilation, (oh, ow)))
        figures = axis_figures(formulas, (oh, ow), self._shape_note())  # type: ignore[arg-type]
        if self.connections is not None:  # a sparse table: only the connected kernels count
            read = sum(len(row) for row in self.connections)
            bias = f" + {out}" if self.bias else ""
            params = f"{dot(*self.kernel)} · {read}{bias}"
            figures += [
                Figure("params", params, cost.params,
                       f"the connection table: its {out} maps read {read} input maps in all"),
                Figure("MACs", f"{dot(oh, ow, *self.kernel)} · {read}", cost.macs,
                       "each output position, one window per connected input map")]
        else:
            per = f"({dot(c // self.groups, *self.kernel)})"
            params = f"{out} · {per}" + (f" + {out}" if self.bias else "")
            figures += [
                Figure("params", params, cost.params, self._groups_note(c)),
                Figure("MACs", f"{dot(out, oh, ow)} · {per}", cost.macs,
                       "every output element is one dot product over its window"),
            ]
        figures.append(Figure("connections", f"{dot(oh, ow)} · ({params})", cost.connections,
                              "every weight and bias is used once at each output position"))
        if self.bias:
            figures.append(Figure("other ops", dot(out, oh, ow), cost.other_ops,
                                  "one bias add per output element"))
        return figures

    def _saved_sparse(self, shape: Shape, grad_in: bool) -> list[Saved]:
        """The connection table runs as one grouped conv per row length over the gathered
        input maps: each keeps its gathered input (padded, as a full conv's, for asymmetric
        "same" padding), and each gather its int64 index when the input needs a gradient (a
        gather of a tensor without one is not recorded); a reorder of the outputs back into
        table order keeps its index too."""
        c, h, w = shape
        (ph0, ph1), (pw0, pw1) = self.pads()
        h, w = h + ph1 - ph0, w + pw1 - pw0  # the input each part convolves
        table = self.connections or ()
        sizes = sorted({len(row) for row in table})
        saved = []
        for size in sizes:
            read = sum(len(row) for row in table if len(row) == size)
            saved.append(Saved(f"gathered{size}", read * h * w))
            if grad_in:
                saved.append(Saved(f"index{size}", read, "int64", per_sample=False))
        order = [i for size in sizes for i, row in enumerate(table) if len(row) == size]
        if order != sorted(order):
            saved.append(Saved("order", len(table), "int64", per_sample=False))
        return saved

    def _shape_note(self) -> str:
        notes = []
        if self.padding == "same":
            (h0, h1), (w0, w1) = self.pads()
            split = f"{h0} before and {h1} after" if (h0, h1) == (w0, w1) else \
                f"H {h0}+{h1}, W {w0}+{w1}"
            notes.append(f'padding "same" keeps the size at stride 1: dilation·(kernel − 1) '
                         f"padding in all, {split}")
        if self.dilation != (1, 1):
            spans = " x ".join(f"{d}·({k} − 1) + 1 = {d * (k - 1) + 1}"
                               for k, d in zip(self.kernel, self.dilation))
            notes.append(f"dilation spreads the kernel: it spans {spans}")
        return "; ".join(notes)

    def _groups_note(self, c: int) -> str:
        if self.groups == 1:
            return "each filter sees every input channel, plus one bias per filter" \
                if self.bias else "each filter sees every input channel (no bias)"
        if self.groups == c:
            return (f"depthwise (groups = input channels = {c}): each filter sees one "
                    "channel")
        return (f"{self.groups} groups: each filter sees {c} / {self.groups} = "
                f"{c // self.groups} channels, 1/{self.groups} of a full conv's weights")

    def build(self, shape: Shape) -> Any:
        from torch import nn

        if self.connections is not None:
            from .modules import SparseConv2d

            return SparseConv2d(shape[0], self.connections, self.kernel, self.stride,
                                self.padding, self.dilation, self.bias, self.out)
        return nn.Conv2d(shape[0], self.out, self.kernel, self.stride, self.padding,
                         self.dilation, self.groups, self.bias)

    def calls(self, shape: Shape) -> Calls:
        """Its kind by how torch runs it. A connection table is one grouped conv per row
        length (`modules.SparseConv2d`), each on its own gather of the input: one call each.
        A grouped conv with wide groups (AlexNet's two) runs as a dense conv a group. On
        the CPU, oneDNN copies an input of BLOCKED_FROM channels or more into its blocked
        layout (a connection table's im2col path reads it as it lies)."""
        if self.connections is not None:
            return Calls("conv_table", len({len(row) for row in self.connections}))
        return Calls(self._kind(shape[0]), copies_input=shape[0] >= BLOCKED_FROM)

    def _kind(self, channels: int) -> str:
        if self.groups > 1 and self.groups == channels:
            return "conv_depthwise"
        if self.groups > 1 and channels // self.groups < WIDE_GROUP:
            return "conv_grouped"
        if self.kernel == (1, 1):
            return "conv1x1"
        return "conv3x3" if self.kernel == (3, 3) else "conv_kxk"

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        """A connection table gathers its inputs (a contiguous copy): NCHW order."""
        return channels_last and self.connections is None

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """The input, whenever autograd records the conv: torch's convolution backward is
        one node for input, weight and bias that keeps the input and the weight together,
        so a frozen conv after a trainable layer keeps its input too (and under autocast
        the weight's half copy, for a first conv as for a frozen one).

        Asymmetric "same" padding: torch pads the input by the odd element first and
        convolves that new tensor, so the padded copy is what is kept.
        """
        weight = Saved("half weight", cost.params - (self.out if self.bias else 0), "half",
                       per_sample=False)
        if self.connections is not None:
            return [*self._saved_sparse(shape, grad_in), weight]
        (ph0, ph1), (pw0, pw1) = self.pads()
        if ph0 == ph1 and pw0 == pw1:
            return [Saved("input", elements(shape)), weight]
        c, h, w = shape
        return [Saved("padded", c * (h + ph1 - ph0) * (w + pw1 - pw0)), weight]
