"""What every layer type shares: the Layer class and its registry, the cost record, saved
tensors and explained figures (arguments in args, shape arithmetic in window)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, ClassVar, TypeVar

from ..errors import did_you_mean
from ..records import Frozen
from .args import Arg, ArgError, OptionError

Shape = tuple[int, ...]  # per-sample: (C, H, W) maps, (F,) flat vectors, (D, L) tokens


def elements(shape: Iterable[int]) -> int:
    """How many numbers a tensor of `shape` holds."""
    return math.prod(shape)


def shape_text(shape: Iterable[int]) -> str:
    """The one way a shape (or any tuple of sizes) is written: 3x224x224."""
    return "x".join(map(str, shape))

class ShapeError(Exception):
    """The layer cannot take this input; the analyzer adds the layer path and location."""


class Cost(Frozen):
    """What one layer does to one sample: output shape and costs.

    macs: multiply-accumulates of conv/linear (bias adds are not MACs).
    other_ops: elementwise work outside the MACs (bias adds, norm, activation, pooling).
    connections: for each output unit, the inputs it reads plus one for its bias, summed
    (LeCun et al. 1998's "connections"; elementwise layers have none).
    rf_kernel/rf_stride: the layer's window and step along (H, W) for receptive fields.
    rf_upsample: how many times finer the output's grid is than the input's (a transposed
    conv's stride, an upsample's whole factor): the jump is divided by it where it divides.
    rf_global: every output reads every input position (attention): its receptive field is
    the whole input.
    """

    output: Shape
    params: int
    buffers: int
    buffer_bytes: int
    macs: int
    other_ops: int
    connections: int
    rf_kernel: tuple[int, int]
    rf_stride: tuple[int, int]
    rf_upsample: tuple[int, int]
    rf_global: bool

    def __init__(self, output: Shape, params: int = 0, buffers: int = 0, buffer_bytes: int = 0,
                 macs: int = 0, other_ops: int = 0, connections: int = 0,
                 rf_kernel: tuple[int, int] = (1, 1), rf_stride: tuple[int, int] = (1, 1),
                 rf_upsample: tuple[int, int] = (1, 1), rf_global: bool = False) -> None:
        self._set(output=output, params=params, buffers=buffers, buffer_bytes=buffer_bytes,
                  macs=macs, other_ops=other_ops, connections=connections, rf_kernel=rf_kernel,
                  rf_stride=rf_stride, rf_upsample=rf_upsample, rf_global=rf_global)


class Saved(Frozen):
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
    dtype: str
    per_sample: bool
    #: "input" only: what is kept is the map's channels-last view folded to (N·H·W, C),
    #: the input's storage where that fold is a view, else a copy (Layout.folds)
    folded: bool
    #: elements per sample where the batch is 1, if other: torch's reshapes keep views
    #: there that copy at larger batches (attention's k and v, views of one projection)
    single: int | None

    def __init__(self, what: str, elements: int, dtype: str = "act", per_sample: bool = True,
                 folded: bool = False, single: int | None = None) -> None:
        self._set(what=what, elements=elements, dtype=dtype, per_sample=per_sample,
                  folded=folded, single=single)


class Layout(Frozen):
    """How a layer's input lies in memory, for the rules that depend on it (torch copies
    where a view would need strides the tensor does not have).

    channels_last: NHWC order (after a map's layer_norm or a pointwise linear; most layers
    keep their input's order), or (N, L, D) for tokens D x L; only ever true where C > 1
    and there are several positions, where the two orders differ. dense: false for a split
    concat's share (a slice of a wider tensor).
    """

    channels_last: bool
    dense: bool
    batch: int

    def __init__(self, channels_last: bool = False, dense: bool = True, batch: int = 1) -> None:
        self._set(channels_last=channels_last, dense=dense, batch=batch)

    def folds(self, shape: Shape) -> bool:
        """Whether the channels-last view of a map of `shape` (permute(0, 2, 3, 1)) folds
        to (N·H·W, C) without a copy: only where N, H and W stay evenly strided (tokens
        D x L alike: (N, L, D) to (N·L, D))."""
        c, positions = shape[0], elements(shape[1:])
        if self.channels_last or self.batch == 1 or positions == 1:
            return True
        return self.dense and c == 1  # one channel: NCHW and NHWC are the same order

    @property
    def contiguous(self) -> bool:
        """NCHW-contiguous (a share of a batch of one is: the batch axis has size 1)."""
        return not self.channels_last and (self.dense or self.batch == 1)


class Calls(Frozen):
    """How a layer's torch module runs, for predicted time: the kind of work it does (one of
    analysis/profile.py's KINDS, each with rates of its own in a device profile), how many
    calls of that kind's kernel it makes on one forward (each pays the kind's fixed overhead
    per call), and whether it copies its whole input first (a buffer of the input's size,
    fresh memory when big: docs/counting.md)."""

    kind: str
    count: int
    copies_input: bool

    def __init__(self, kind: str, count: int = 1, copies_input: bool = False) -> None:
        self._set(kind=kind, count=count, copies_input=copies_input)


class Figure(Frozen):
    """One explained figure: `name = formula = value`, the formula with its numbers filled in.

    The value is always the analyzer's (from `infer`); the formula shows where it comes from
    and evaluates to it (tests check both).
    """

    name: str
    formula: str
    value: int
    note: str

    def __init__(self, name: str, formula: str, value: int, note: str = "") -> None:
        self._set(name=name, formula=formula, value=value, note=note)


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
    #: the same arguments by name (what a spec's keys are looked up in)
    arg_named: ClassVar[dict[str, Arg[Any]]] = {}
    summary: ClassVar[str] = ""
    #: what the layer's work is, for reports ("MACs" or what its other_ops count)
    work: ClassVar[str] = ""
    #: True when the work is multiply-accumulates: reports show its MACs (else —)
    counts_macs: ClassVar[bool] = False
    #: the activation family that steers `init: auto` ("relu", "leaky_relu", "tanh",
    #: "sigmoid", torch.nn.init's names); "" for layers that do not steer it
    init_nonlinearity: ClassVar[str] = ""
    #: True when the layer's parameters are fixed values, never trained (YOLOv8's DFL
    #: integral): counted as parameters, never as trainable ones
    fixed_params: ClassVar[bool] = False
    #: False for a layer whose work cnncli does not know (an imported ONNX operator): its
    #: figures are not counted, and totals that include it are marked partial
    priced: ClassVar[bool] = True
    #: the arguments its weights' shapes depend on besides its input's channels: a layer
    #: can use another's weights (`shares:`) where the two agree on these and on their
    #: input channels; None for a type with no weights to share
    weight_args: ClassVar[tuple[str, ...] | None] = None
    #: True when its weights' shape follows the input's axes (layer_scale's factors are
    #: (C, 1, 1) on a map, (C, 1) on tokens): it shares only with a layer on as many axes
    weights_follow_axes: ClassVar[bool] = False
    #: what the layer's buffers hold, for the summary's Buffers line ("" if it has none)
    buffer_note: ClassVar[str] = ""
    #: under autocast: "half" for ops run in fp16/bf16 (conv, linear), "fp32" for ops autocast
    #: widens (softmax), "" for ops that run in whatever type they get.
    autocast: ClassVar[str] = ""
    #: the kind of work its torch module does, for predicted time (`calls`)
    time_kind: ClassVar[str] = "elementwise"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.args = _declared(cls)
        cls.arg_named = {arg.name: arg for arg in cls.args}
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
        layer = object.__new__(cls)
        try:
            for key in options:
                if key not in cls.arg_named:
                    names = list(cls.arg_named)
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

    def calls(self, shape: Shape) -> Calls:
        """What its torch module does on input `shape`, for predicted time: most layers
        make one call of their `time_kind`'s kernel."""
        return Calls(self.time_kind)

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        """True when the output on input `shape` is a view of the input (one storage,
        counted once)."""
        return False

    def view_dense(self, shape: Shape, layout: Layout) -> bool:
        """Where the output is a view of the input (output_is_input): whether it is dense,
        every element of its storage span its own (a view keeps its input's)."""
        return layout.dense

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
    one (a new default) or hide it with a plain value (global_avgpool's size = (1, 1)).
    From the bases' `args`, worked out when they were defined, and the class's own
    attributes: the whole MRO's are not scanned again for each of the 36 layer classes."""
    inherited = [arg.name for base in cls.__bases__ for arg in getattr(base, "args", ())]
    own = [name for name, value in vars(cls).items() if isinstance(value, Arg)]
    found = (getattr(cls, name) for name in dict.fromkeys([*inherited, *own]))  # by the MRO
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
