"""Layers that change a map's size without weights: upsampling (interpolation), padding,
centre cropping and channel slices, the glue of encoder-decoder networks (U-Net, FPN,
DeepLab) and of YOLOv8's C2f."""

from __future__ import annotations

from typing import Any

from .base import (
    Arg,
    ArgError,
    Cost,
    Figure,
    Layer,
    Layout,
    Saved,
    Shape,
    ShapeError,
    dot,
    shape_text,
)
from .window import axis_figures, elements, need_map

#: interpolation modes: other ops per output element (the weighted sum of the neighbours
#: it reads: n multiplies and n − 1 adds) and the inputs it reads
INTERPOLATION = {"nearest": (0, 1), "nearest-exact": (0, 1), "bilinear": (7, 4),
                 "bicubic": (31, 16)}


class Upsample(Layer):
    name = "upsample"
    aliases = ("interpolate",)
    summary = "resize a map by a scale or to a size (torch.nn.Upsample, F.interpolate)"
    work = "per output element: 0 nearest, 7 bilinear, 31 bicubic (the weighted neighbours)"
    scale: Arg[tuple[float, float] | None] = Arg(
        "scale", None, doc="factor s or [sh, sw]; the output is ⌊H·s⌋; 2 without a size")
    size: Arg[tuple[int, int] | None] = Arg("pair", None, min=1, doc="output size, s or [h, w]")
    mode: Arg[str] = Arg("choice", "nearest", choices={m: m for m in INTERPOLATION})
    align_corners: Arg[bool | None] = Arg("bool", None,
                                          doc="bilinear and bicubic only (torch's rule)")

    def validate(self) -> None:
        if self.scale is not None and self.size is not None:
            raise ArgError("give scale or size, not both: the output is ⌊H·scale⌋, or size")
        if self.scale is None and self.size is None:
            vars(self)["scale"] = (2.0, 2.0)  # the common case: twice the size
        if self.scale is not None and min(self.scale) <= 0:
            raise ArgError(f"scale must be above 0, got {_number(min(self.scale))}", "scale")
        if self.align_corners is not None and self.mode not in ("bilinear", "bicubic"):
            raise ArgError(f"align_corners applies to bilinear and bicubic, not {self.mode} "
                           "(PyTorch refuses it)", "align_corners")

    def sized_like(self, shape: Shape) -> Upsample:
        """This layer resizing to the H and W of `shape` (what a `like: NAME` option gives:
        the size of another tensor, known once that tensor's shape is)."""
        return replace_args(self, scale=None, size=tuple(shape[1:3]))

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        if self.size is not None:
            return self.size
        assert self.scale is not None
        # torch casts the float product down (ATen's compute_output_size)
        sizes = (int(float(h) * self.scale[0]), int(float(w) * self.scale[1]))
        if min(sizes) < 1:
            raise ShapeError(f"scale {shape_text(map(_number, self.scale))} gives an output "
                             f"of {shape_text(sizes)} from {h}x{w}, below 1")
        return sizes

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map(self.name, shape)
        oh, ow = self.output_size(h, w)
        ops, reads = INTERPOLATION[self.mode]
        n = c * oh * ow
        side = {1: 1, 4: 2, 16: 4}[reads]  # the neighbours read along each axis
        return Cost(output=(c, oh, ow), other_ops=ops * n,
                    connections=reads * n if ops else 0, rf_kernel=(side, side),
                    rf_upsample=(_factor(h, oh), _factor(w, ow)))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c, h, w = shape
        _, oh, ow = cost.output
        if self.size is not None:
            figures = axis_figures((str(oh), str(ow)), (oh, ow), "the size given")
        else:
            assert self.scale is not None
            formulas = tuple(_scaled(size, s) for size, s in zip((h, w), self.scale))
            figures = axis_figures(formulas, (oh, ow), "⌊size · scale⌋")  # type: ignore[arg-type]
        ops, reads = INTERPOLATION[self.mode]
        what = ("a copy of the nearest input, no arithmetic" if not ops else
                f"a weighted sum of {reads} neighbours: {reads} multiplies, {reads - 1} adds")
        n = dot(c, oh, ow)
        return [*figures, Figure("other ops", f"{ops} · ({n})" if ops else "0",
                                 cost.other_ops, what)]

    def build(self, shape: Shape) -> Any:
        from torch import nn

        scale = self.scale
        if scale is not None and scale[0] == scale[1]:
            scale = scale[0]  # printed as torch prints nn.Upsample(scale_factor=2)
        size = self.size if self.size is None or self.size[0] != self.size[1] else self.size[0]
        return nn.Upsample(size=size, scale_factor=scale, mode=self.mode,
                           align_corners=self.align_corners)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """Nothing: the backward needs only the sizes (and the scale)."""
        return []


PAD_MODES = {"zeros": "zeros", "constant": "zeros", "reflect": "reflect",
             "replicate": "replicate", "circular": "circular"}


class Pad(Layer):
    name = "pad"
    aliases = ("pad2d",)
    summary = ("pad a map's borders (torch.nn.ZeroPad2d, ConstantPad2d, ReflectionPad2d, "
               "ReplicationPad2d, CircularPad2d)")
    work = "none (a copy)"
    padding: Arg[tuple[int, int, int, int]] = Arg(
        "sides", min=0, doc="p, [ph, pw] or [left, right, top, bottom]")
    mode: Arg[str] = Arg("choice", "zeros", choices=PAD_MODES)
    value: Arg[float] = Arg("float", 0.0, doc="the fill of zeros mode")

    def validate(self) -> None:
        if self.value != 0 and self.mode != "zeros":
            raise ArgError(f"value fills the zeros mode's border, not {self.mode}'s", "value")

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map(self.name, shape)
        left, right, top, bottom = self.padding
        if self.mode in ("reflect", "circular"):
            # torch: reflect mirrors without the edge (pad < size); circular wraps once
            limit = "smaller than" if self.mode == "reflect" else "at most"
            for pads, size, axis in (((top, bottom), h, "H"), ((left, right), w, "W")):
                if max(pads) >= size + (self.mode == "circular"):
                    raise ShapeError(f"{self.mode} padding {max(pads)} along {axis} must be "
                                     f"{limit} the input's {size} (input {shape_text(shape)})")
        return Cost(output=(c, h + top + bottom, w + left + right))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        c, h, w = shape
        left, right, top, bottom = self.padding
        fill = {"zeros": f"filled with {_number(self.value)}", "reflect": "mirrored",
                "replicate": "the edge repeated", "circular": "wrapped around"}[self.mode]
        return [Figure("output H", f"{h} + {top} + {bottom}", cost.output[1],
                       f"top and bottom borders {fill}: a copy, no arithmetic"),
                Figure("output W", f"{w} + {left} + {right}", cost.output[2],
                       "left and right borders")]

    def build(self, shape: Shape) -> Any:
        from torch import nn

        sides = self.padding
        pad: int | tuple[int, ...] = sides[0] if len(set(sides)) == 1 else tuple(sides)
        if self.mode == "zeros":
            return nn.ZeroPad2d(pad) if self.value == 0 else nn.ConstantPad2d(pad, self.value)
        kinds = {"reflect": nn.ReflectionPad2d, "replicate": nn.ReplicationPad2d,
                 "circular": nn.CircularPad2d}
        return kinds[self.mode](pad)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """A constant or circular pad keeps nothing (its backward slices the gradient);
        reflect and replicate keep their input (their backward kernels read its size from
        it)."""
        return [Saved("input", elements(shape))] if self.mode in ("reflect", "replicate") \
            else []


class Crop(Layer):
    name = "crop"
    aliases = ("center_crop",)
    summary = "centre crop of a map to [h, w] (U-Net's skip connections)"
    work = "none (a copy)"
    size: Arg[tuple[int, int]] = Arg("pair", min=1, doc="output size, s or [h, w]")

    def offsets(self, shape: Shape) -> tuple[int, int]:
        """Rows and columns cut from the top and left; an odd difference cuts the extra one
        from the bottom or right."""
        return (shape[1] - self.size[0]) // 2, (shape[2] - self.size[1]) // 2

    def infer(self, shape: Shape) -> Cost:
        c, h, w = need_map(self.name, shape)
        if self.size[0] > h or self.size[1] > w:
            raise ShapeError(f"cannot crop {shape_text(shape)} to {shape_text(self.size)}: "
                             "the size is larger than the input")
        return Cost(output=(c, *self.size))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        top, left = self.offsets(shape)
        return [Figure("output H", str(self.size[0]), cost.output[1],
                       f"rows {top} to {top + self.size[0] - 1} of {shape[1]}, columns {left} "
                       f"to {left + self.size[1] - 1} of {shape[2]}: a slice, no arithmetic"),
                Figure("output W", str(self.size[1]), cost.output[2])]

    def build(self, shape: Shape) -> Any:
        from .modules import CenterCrop2d

        return CenterCrop2d(self.size)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """Nothing: the slice's backward needs only the sizes."""
        return []

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        """The module's contiguous() returns the slice itself where torch finds it
        contiguous already: cropping nothing from a contiguous input, or a crop whose
        slice happens to be (one position of a channels-last map at batch 1)."""
        c, h, w = shape
        if not layout.dense and layout.batch > 1:
            return False  # a share of a wider tensor: the batch stride spans the rest
        sizes = (layout.batch, c, *self.size)
        strides = (c * h * w, 1, w * c, c) if layout.channels_last else (c * h * w, h * w, w, 1)
        return _contiguous(sizes, strides)

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        return False  # contiguous() gives NCHW order


class Slice(Layer):
    name = "slice"
    summary = "channels start to stop - 1 (a view; YOLOv8's C2f reads its two halves so)"
    work = "none (a view)"
    start: Arg[int] = Arg("int", 0, min=0, doc="first channel kept")
    stop: Arg[int] = Arg("int", min=1, doc="channel after the last kept")

    def validate(self) -> None:
        if self.start >= self.stop:
            raise ArgError(f"start {self.start} must be below stop {self.stop}")

    def infer(self, shape: Shape) -> Cost:
        if self.stop > shape[0]:
            raise ShapeError(f"slice: stop {self.stop} is past the {shape[0]} channels of "
                             f"{shape_text(shape)}")
        return Cost(output=(self.stop - self.start, *shape[1:]))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("output channels", f"{self.stop} − {self.start}", cost.output[0],
                       f"channels {self.start} to {self.stop - 1} of {shape[0]}: a view, no "
                       "arithmetic")]

    def build(self, shape: Shape) -> Any:
        from .modules import ChannelSlice

        return ChannelSlice(self.start, self.stop)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """Nothing: the slice's backward needs only the sizes."""
        return []

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        """A view of its input's storage (which a layer that keeps it keeps whole)."""
        return True

    def view_dense(self, shape: Shape, layout: Layout) -> bool:
        """Some of the channels of each sample: the samples' shares lie apart in memory
        (a layer that needs them contiguous copies them), unless it keeps them all."""
        return layout.dense and (self.start, self.stop) == (0, shape[0])


def _contiguous(sizes: tuple[int, ...], strides: tuple[int, ...]) -> bool:
    """torch's is_contiguous: each axis longer than 1 steps over everything after it."""
    expected = 1
    for size, stride in zip(reversed(sizes), reversed(strides)):
        if size != 1:
            if stride != expected:
                return False
            expected *= size
    return True


def replace_args(layer: Layer, **values: Any) -> Any:
    """A layer of the same type with some arguments changed, checked again by create."""
    return type(layer).create(**{**layer.arg_values(), **values})


def _factor(size: int, out: int) -> int:
    """The whole factor an axis is upsampled by (1 where it is not a whole multiple)."""
    return out // size if out % size == 0 else 1


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _scaled(size: int, scale: float) -> str:
    """⌊size · scale⌋ in integers where the scale is a small fraction (1.5 is 3 / 2)."""
    if float(scale).is_integer():
        return dot(size, int(scale))
    from fractions import Fraction  # here: it loads decimal, which nothing else needs

    ratio = Fraction(scale).limit_denominator(64)
    if float(ratio) == scale and size * ratio.numerator // ratio.denominator == \
            int(float(size) * scale):  # torch's float product can round below (100 · 0.29)
        return f"⌊{size} · {ratio.numerator} / {ratio.denominator}⌋"
    return f"⌊{size} · {scale}⌋"

