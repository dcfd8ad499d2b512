"""What every layer type shares: declared arguments, the cost record, shape arithmetic."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar, overload

from ..errors import did_you_mean, yaml_repr

Shape = tuple[int, ...]  # per-sample: (C, H, W) for feature maps, (F,) for flat vectors

REQUIRED = object()
MAX_INT_ARG = 2**31 - 1  # sizes beyond int32 are typos, not networks


class ShapeError(Exception):
    """The layer cannot take this input; the analyzer adds the layer path and location."""


class ArgError(Exception):
    """A bad argument value; the resolver adds the location.

    arg: the option whose value is wrong, or None for a rule tying several together.
    layer: the type's name, once `Layer.create` has seen the error go by.
    """

    def __init__(self, detail: str, arg: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.arg = arg
        self.layer = ""

    def said_of(self, kind: str) -> str:
        """The message about layer type `kind`, spelled as the spec does (conv2d or conv)."""
        return f"{kind}: {self.detail}"

    def __str__(self) -> str:
        return self.said_of(self.layer) if self.layer else self.detail


class OptionError(ArgError):
    """An option the type lacks (`arg`: the key) or a required one left out (`arg`: None):
    the message goes on from the type's name ("conv needs 'out' ...")."""

    def said_of(self, kind: str) -> str:
        return f"{kind} {self.detail}"


T = TypeVar("T")


class Arg(Generic[T]):
    """One declared argument of a layer type, as a class attribute named after it:

        out: Arg[int] = Arg("int", min=1, doc="output channels")

    On a layer, `self.out` is the checked value (an int); on the class, `Conv.out` is this
    declaration. kind: "int", "float", "bool", "pair" (int or [h, w]), "padding" (pair,
    "same", "valid") or "table" (a list of lists of indices, e.g. which input maps feed each
    output map).
    """

    def __init__(self, kind: str, default: Any = REQUIRED, *, min: float | None = None,
                 max: float | None = None, max_open: bool = False, doc: str = ""):
        self.name = ""  # the attribute's name, set when the class is made
        self.kind = kind
        self.default = default
        self.min = min
        self.max = max
        self.max_open = max_open  # True: the value must stay below max
        self.doc = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, layer: None, owner: type | None = None) -> Arg[T]: ...

    @overload
    def __get__(self, layer: object, owner: type | None = None) -> T: ...

    def __get__(self, layer: object, owner: type | None = None) -> Any:
        # A layer's values live in its __dict__, which Python reads before this (a non-data
        # descriptor): this runs for the class, or for a layer not made by `create`.
        if layer is None:
            return self
        raise AttributeError(f"{type(layer).__name__} has no {self.name!r}: make layers with "
                             f"{type(layer).__name__}.create(...)")

    def __repr__(self) -> str:
        default = "required" if self.required else repr(self.default)
        return f"Arg({self.name!r}, {self.kind!r}, default={default})"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> Any:
        """Return the value in canonical form (pairs as tuples) or raise ArgError."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            hint = " (write true or false)" if isinstance(value, str) else ""
            raise ArgError(f"{self.name} must be true or false, got {yaml_repr(value)}{hint}")
        if self.kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ArgError(f"{self.name} must be a number, got {yaml_repr(value)}")
            return self._in_range(float(value))
        if self.kind == "int":
            return self._in_range(self._int(value))
        if self.kind == "padding" and value in ("same", "valid"):
            return value
        if self.kind == "table":
            return self._table(value)
        if self.kind in ("pair", "padding"):
            if isinstance(value, (list, tuple)) and len(value) == 2:
                return (self._in_range(self._int(value[0])), self._in_range(self._int(value[1])))
            if isinstance(value, (list, tuple)):
                raise ArgError(f"{self.name} must be one integer or a pair [h, w], "
                               f"got a list of {len(value)}")
            n = self._in_range(self._int(value))
            return (n, n)
        raise AssertionError(f"unknown argument kind {self.kind}")

    def _table(self, value: Any) -> tuple[tuple[int, ...], ...]:
        """A non-empty list of non-empty lists of distinct indices >= 0, each sorted."""
        if not isinstance(value, (list, tuple)) or not value:
            raise ArgError(f"{self.name} must be a list with one list of input indices per "
                           f"output, got {yaml_repr(value)}")
        rows = []
        for i, row in enumerate(value):
            if not isinstance(row, (list, tuple)) or not row:
                raise ArgError(f"{self.name}[{i}] must be a non-empty list of input indices, "
                               f"got {yaml_repr(row)}")
            items = [self._in_range(self._int(v)) for v in row]
            if len(set(items)) != len(items):
                raise ArgError(f"{self.name}[{i}] lists an input twice: {yaml_repr(row)}")
            rows.append(tuple(sorted(items)))
        return tuple(rows)

    def _int(self, value: Any) -> int:
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)  # 4.0 is 4; the size limit below applies all the same
        if isinstance(value, bool) or not isinstance(value, int):
            extra = " or \"same\"/\"valid\"" if self.kind == "padding" else ""
            raise ArgError(f"{self.name} must be an integer{extra}, got {yaml_repr(value)}")
        if abs(value) > MAX_INT_ARG:
            raise ArgError(f"{self.name} = {value:.3g} is beyond any network's size "
                           f"(limit {MAX_INT_ARG:,})")
        return value

    def _in_range(self, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ArgError(f"{self.name} must be a finite number, got {value}")
        if self.min is not None and value < self.min:
            raise ArgError(f"{self.name} must be at least {_num(self.min)}, got {_num(value)}")
        if self.max is not None and (value >= self.max if self.max_open else value > self.max):
            bound = f"below {_num(self.max)}" if self.max_open else f"at most {_num(self.max)}"
            raise ArgError(f"{self.name} must be {bound}, got {_num(value)}")
        return value


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@dataclass(frozen=True)
class Cost:
    """What one layer does to one sample: output shape and costs.

    macs: multiply-accumulates of conv/linear (bias adds are not MACs).
    other_ops: elementwise work outside the MACs (bias adds, norm, activation, pooling).
    connections: for each output unit, the inputs it reads plus one for its bias, summed
    (LeCun et al. 1998's "connections"; elementwise layers have none).
    rf_kernel/rf_stride: the layer's window and step along (H, W) for receptive fields.
    """

    output: Shape
    params: int = 0
    buffers: int = 0
    buffer_bytes: int = 0
    macs: int = 0
    other_ops: int = 0
    connections: int = 0
    rf_kernel: tuple[int, int] = (1, 1)
    rf_stride: tuple[int, int] = (1, 1)


@dataclass(frozen=True)
class Saved:
    """One tensor a layer's backward keeps from its training-mode forward.

    what: "input" or "output" (the layer's own input or output tensor, which a neighbour may
    save too: the analysis counts each once), or a tensor of its own ("indices", "mask",
    "stats", "padded", ...). elements: per sample unless `per_sample` is false (per-channel
    statistics do not grow with the batch). dtype: "act" (the activations' type), "mask"
    (dropout's mask: the activations' type on CPU, one byte on CUDA), "fp32", "int64", or
    "half" for a tensor that exists only under autocast (the half copy of a weight).
    """

    what: str
    elements: int
    dtype: str = "act"
    per_sample: bool = True
    #: "input" only: what is kept is the map's channels-last view folded to (N·H·W, C),
    #: the input's storage where that fold is a view, else a copy (Layout.folds)
    folded: bool = False


@dataclass(frozen=True)
class Layout:
    """How a layer's input lies in memory, for the rules that depend on it (torch copies
    where a view would need strides the tensor does not have).

    channels_last: NHWC order (after a map's layer_norm or a pointwise linear; most layers
    keep their input's order); only ever true for maps with C > 1 and H·W > 1, where the
    two orders differ. dense: false for a split concat's share (a slice of a wider tensor).
    """

    channels_last: bool = False
    dense: bool = True
    batch: int = 1

    def folds(self, shape: Shape) -> bool:
        """Whether the channels-last view of a map of `shape` (permute(0, 2, 3, 1)) folds
        to (N·H·W, C) without a copy: only where N, H and W stay evenly strided."""
        c, h, w = shape
        if self.channels_last or self.batch == 1 or h * w == 1:
            return True
        return self.dense and c == 1  # one channel: NCHW and NHWC are the same order

    @property
    def contiguous(self) -> bool:
        """NCHW-contiguous (a share of a batch of one is: the batch axis has size 1)."""
        return not self.channels_last and (self.dense or self.batch == 1)


@dataclass(frozen=True)
class Figure:
    """One explained figure: `name = formula = value`, the formula with its numbers filled in.

    The value is always the analyzer's (from `infer`); the formula shows where it comes from
    and evaluates to it (tests check both).
    """

    name: str
    formula: str
    value: int
    note: str = ""


def dot(*factors: object) -> str:
    """'96 · 55 · 55': factors joined by a centred dot."""
    return " · ".join(str(f) for f in factors)


def elements_formula(shape: Shape) -> str:
    return dot(*shape)


L = TypeVar("L", bound="Layer")

#: spec name (and each alias) to layer class; a class with a `name` enters it when defined
REGISTRY: dict[str, type[Layer]] = {}


class Layer:
    """Base of every layer type. A type is a subclass with a `name`, its arguments as `Arg`
    class attributes, the two rules (`infer`, `saved`), `explain` and `build`; defining it
    registers it."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    #: the declared arguments, in declaration order (a base class's first), made from the
    #: class's `Arg` attributes when the class is defined
    args: ClassVar[tuple[Arg[Any], ...]] = ()
    summary: ClassVar[str] = ""
    #: what the layer's work is, for reports ("MACs" or what its other_ops count)
    work: ClassVar[str] = ""
    #: True when the work is multiply-accumulates: reports show its MACs (else —)
    counts_macs: ClassVar[bool] = False
    #: the activation family that steers `init: auto` ("relu", "leaky_relu", "tanh",
    #: "sigmoid", torch.nn.init's names); "" for layers that do not steer it
    init_nonlinearity: ClassVar[str] = ""
    #: what the layer's buffers hold, for the summary's Buffers line ("" if it has none)
    buffer_note: ClassVar[str] = ""
    #: under autocast: "half" for ops run in fp16/bf16 (conv, linear), "fp32" for ops autocast
    #: widens (softmax), "" for ops that run in whatever type they get.
    autocast: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.args = _declared(cls)
        if "name" in vars(cls):  # a family's shared base (Activation, _WindowPool) has none
            for spelling in (cls.name, *cls.aliases):
                known = REGISTRY.get(spelling)
                if known is not None and known.__qualname__ != cls.__qualname__:
                    raise TypeError(f"layer type {spelling!r} is both {known.__qualname__} "
                                    f"and {cls.__qualname__}")
                REGISTRY[spelling] = cls  # the same class again: a module reloaded

    @classmethod
    def create(cls: type[L], **options: Any) -> L:
        """A layer of this type: defaults filled in, every value checked and made canonical
        (pairs as tuples), then `validate()`. Raises OptionError for an unknown or missing
        option, ArgError for a bad value (`.arg` names it) or combination."""
        names = [arg.name for arg in cls.args]
        layer = object.__new__(cls)
        try:
            for key in options:
                if key not in names:
                    raise OptionError(f"has no option {key!r}{did_you_mean(key, names)}; its "
                                      f"options: {', '.join(names) or 'none'}", key)
            for arg in cls.args:
                vars(layer)[arg.name] = _value(arg, options)
            layer.validate()
        except ArgError as exc:
            exc.layer = cls.name
            raise
        return layer

    def __init__(self, **options: Any):
        # create is the one constructor: a layer's values are always complete and checked.
        raise TypeError(f"make a {self.name} layer with {type(self).__name__}.create(...), "
                        "which fills in defaults and checks the values")

    def validate(self) -> None:
        """Check rules that tie several arguments together; raise ArgError."""

    def arg_values(self) -> dict[str, Any]:
        return {arg.name: getattr(self, arg.name) for arg in self.args}

    def infer(self, shape: Shape) -> Cost:
        """Output shape and costs for one sample of `shape`; raise ShapeError if impossible."""
        raise NotImplementedError

    def build(self, shape: Shape) -> Any:
        """The torch module for input `shape` (imports torch; never called by the analyzer)."""
        raise NotImplementedError

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        """The arithmetic behind `cost` (this layer's `infer(shape)`), numbers filled in."""
        raise NotImplementedError

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """What autograd keeps for this layer's backward in one training-mode forward.

        `grad_in`: the input requires grad (some layer before has trainable parameters);
        `trainable`: this layer's own parameters do. The analysis calls it only when one
        of the two holds (else autograd records nothing). Parameters and buffers the
        backward keeps are not listed: they are counted as parameters.
        """
        raise NotImplementedError

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        """True when the output on input `shape` is a view of the input (one storage,
        counted once)."""
        return False

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        """Whether the output lies channels-last, given the input does: torch's kernels
        keep their input's memory order (the few that do not say so)."""
        return channels_last

    def elementwise(self, shape: Shape, cost: Cost, per: int, what: str) -> list[Figure]:
        """Figures of a layer doing `per` ops on each of its output elements."""
        n = elements_formula(cost.output)
        formula = n if per == 1 else f"{per} · ({n})"
        return [Figure("other ops", formula, cost.other_ops, what)]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.arg_values().items())
        return f"{self.name}({args})"


def _declared(cls: type[Layer]) -> tuple[Arg[Any], ...]:
    """The Arg attributes of `cls` and its bases, a base's first: a subclass may redeclare
    one (a new default) or hide it with a plain value (global_avgpool's size = (1, 1))."""
    names = dict.fromkeys(name for base in reversed(cls.__mro__)
                          for name, value in vars(base).items() if isinstance(value, Arg))
    found = (next(vars(base)[name] for base in cls.__mro__ if name in vars(base))
             for name in names)
    return tuple(arg for arg in found if isinstance(arg, Arg))


def _value(arg: Arg[Any], options: dict[str, Any]) -> Any:
    """The checked value of `arg` among `options`, or its default."""
    if arg.name not in options:
        if arg.required:
            raise OptionError(f"needs {arg.name!r} ({arg.doc or arg.kind})")
        value = arg.default
    else:
        value = options[arg.name]
    if value is None and arg.default is None:
        return None
    try:
        return arg.check(value)
    except ArgError as exc:
        exc.arg = arg.name
        raise


def elements(shape: Shape) -> int:
    return math.prod(shape)


def need_map(layer: str, shape: Shape) -> tuple[int, int, int]:
    """Unpack (C, H, W), or explain that a feature map is needed."""
    if len(shape) != 3:
        raise ShapeError(f"{layer} needs a feature map CxHxW but gets a flat vector of "
                         f"{shape[0]} features")
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
