"""Shape arithmetic shared by the layer types: one sliding-window rule for conv and both
poolings, its explained formula, and feature-map unpacking."""

from __future__ import annotations

from .base import Figure, Shape, ShapeError, shape_text
from .base import elements as elements  # the layers import it from here


def need_map(layer: str, shape: Shape) -> tuple[int, int, int]:
    """Unpack (C, H, W), or explain that a feature map is needed."""
    if len(shape) != 3:
        what = (f"a flat vector of {shape[0]} features" if len(shape) == 1
                else f"tokens {shape_text(shape)}")
        raise ShapeError(f"{layer} needs a feature map CxHxW but gets {what}")
    return shape  # type: ignore[return-value]


def window_output(size: int, kernel: int, stride: int, pad: int, dilation: int,
                  ceil_mode: bool, axis: str) -> int:
    """Output length of a sliding window along one axis, as PyTorch computes it.

    Serves conv and both poolings (torch's conv output rule is pooling's with ceil_mode off).
    With ceil_mode a last, partial window is kept only if it starts inside the input or the
    left padding (ATen pooling_output_shape).
    """
    span = dilation * (kernel - 1) + 1
    # With ceil_mode a window may hang over the end, so only the output size can be too small.
    if size + 2 * pad < span and not ceil_mode:
        raise ShapeError(f"kernel {_extent(kernel, dilation)} along {axis} is larger than the "
                         f"padded input ({size} + 2x{pad} = {size + 2 * pad})")
    numerator = size + 2 * pad - span
    if ceil_mode:
        out = -(-numerator // stride) + 1
        if (out - 1) * stride >= size + pad:
            out -= 1
    else:
        out = numerator // stride + 1
    if out < 1:
        raise ShapeError(f"output {axis} would be {out}, below 1")
    return out


def window_formula(size: int, kernel: int, stride: int, pads: tuple[int, int], dilation: int,
                   ceil_mode: bool, out: int) -> str:
    """How `window_output` gets `out`: ⌊(size + padding − span) / stride⌋ + 1 (⌈⌉ in ceil
    mode, less one when that last window would start past the input)."""
    pad = f"2·{pads[0]}" if pads[0] == pads[1] else f"{pads[0]} + {pads[1]}"
    span = str(kernel) if dilation == 1 else f"{dilation}·({kernel} − 1) − 1"
    inner = f"{size} + {pad} − {span}"
    if not ceil_mode:
        return f"⌊({inner}) / {stride}⌋ + 1"
    formula = f"⌈({inner}) / {stride}⌉ + 1"
    full = -(-(size + pads[0] + pads[1] - dilation * (kernel - 1) - 1) // stride) + 1
    return formula if full == out else f"{formula} − 1"


def axis_figures(formulas: tuple[str, str], out: tuple[int, int], note: str = "") -> list[Figure]:
    """Output height and width, as one figure when both axes compute alike."""
    if formulas[0] == formulas[1]:
        return [Figure("output H = W", formulas[0], out[0], note)]
    return [Figure("output H", formulas[0], out[0], note), Figure("output W", formulas[1], out[1])]


def _extent(kernel: int, dilation: int) -> str:
    if dilation == 1:
        return str(kernel)
    return f"{kernel} (dilation {dilation}: spans {dilation * (kernel - 1) + 1})"
