"""Random valid specs for tests: every construct of docs/spec-language.md, seeded.

`random_spec(seed)` gives the YAML text of one spec; the same seed gives the same text. The
generator follows the shape itself as it writes each entry, so every spec is valid by
construction: a choice that would not fit the current shape (a kernel over the padded
input, groups that do not divide, a shortcut no stride can reach) is drawn again, never
written and filtered out afterwards. Layer output shapes come from each layer class's own
`infer` (which the corpus test checks against torch through verify).

Covered: every registered layer type with random valid arguments (but yolo_decode, which
takes C x anchors: tests/layers/test_yolo_layers.py), on maps, vectors and token sequences
(a map after `flatten: {start: 1}`, where the token layers join the ones that take
tokens); sequences, residuals
(shortcut auto / identity / none / a list of layers / an expression, `shortcut_name`,
`after`), concat (mapping or list branches, single-entry and empty branches, `split`,
`after`), gates (Cx1x1 and same-shape), repeats (`var`, `prefix`/`start`, `when` on the
variable, single-entry and list bodies), blocks with required and defaulted parameters
(defaults as expressions), block bodies of every kind, `inline`, `frozen` (nested
`frozen: false` too), `when` (kept and dropped entries), expressions over spec params,
block params and `in_channels` / `in_height` / `in_width` / `in_features`; and the graph
form (tests/specgraph.py): `from:` (this list, enclosing lists, dotted names, the input, a
block's inputs), joins add / multiply / concat of 2-3 named outputs, blocks with `inputs:`,
`like:` and the network's `outputs:`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

import yaml
from specgraph import MAX_CHANNELS, GraphDraws, Named, Retry, network_outputs

from cnncli.layers import REGISTRY, ArgError, ShapeError
from cnncli.layers.base import Layer

Shape = tuple[int, ...]
Entry = dict[str, Any]

PARAMS = {"width": 4, "on": True, "off": False, "rate": 0.25}
ACTIVATIONS = ("relu", "relu6", "leaky_relu", "tanh", "scaled_tanh", "sigmoid", "gelu", "silu",
               "hardswish", "hardsigmoid", "softmax")
MAP_ONLY = {"conv", "maxpool", "avgpool", "subsample", "adaptive_avgpool", "global_avgpool",
            "lrn", "channel_shuffle", "conv_transpose", "upsample", "pad", "crop",
            "window_attention", "patch_merge", "partition_attention"}
VECTOR_ONLY = {"rbf"}
TOKENS_ONLY = {"attention", "class_token", "position_embedding", "token"}
#: what a token sequence D x L (a map after `flatten: {start: 1}`) is given
ON_TOKENS = TOKENS_ONLY | {"layer_norm", "linear", "dropout", "drop_path", "flatten",
                           *ACTIVATIONS}
OPTIONAL = {  # the optional arguments of the simpler types: each given half the time
    "batchnorm": {"eps": (1e-3,), "momentum": (0.0, 0.5, 1.0), "affine": (True, False)},
    "lrn": {"size": (1, 2, 3, 4, 5, 6), "alpha": (2e-4,), "beta": (0.5,), "k": (2.0,)},
    "leaky_relu": {"negative_slope": (0.0, 0.2)},
    "scaled_tanh": {"amplitude": (1.5,), "slope": (0.5,)},
    "dropout": {"p": (0.0, 0.3)},
    "drop_path": {"p": (0.0, 0.2)},
    "layer_norm": {"eps": (1e-6,), "affine": (True, False)},
    "layer_scale": {"init": (0.5,)},
}
TYPES = sorted({cls.name for cls in REGISTRY.values() if cls.priced})  # every type torch builds


@dataclass(frozen=True)
class Ctx:
    """Where an entry is written: the block's input and params in scope, names allowed."""

    depth: int = 0
    block_in: Shape | None = None  # the enclosing block's input shape (in_channels, ...)
    block_params: tuple[tuple[str, int], ...] = ()  # int params of the block and their values
    repeat_var: str | None = None
    names: bool = True  # False inside an inline repeat: its items share one namespace
    scope: Named = ()  # the named outputs it may read (`from:`), with their shapes
    graph: float = 0.2  # how often an entry reads named outputs
    #: whether an entry gives the output flowing in: not first in an after: list (a sum, a
    #: concatenation) or in a split branch (a share), where a block cannot read its input
    #: by name (the resolver refuses: no path to read it by)
    flow: bool = True


@dataclass
class Gen(GraphDraws):
    """Writes entries while following the shape; every draw comes from `rng`."""

    rng: random.Random
    counter: int = 0  # for unique names: n1, b2, blk3, ...
    blocks: dict[str, Any] = field(default_factory=dict)
    block_shapes: dict[str, tuple[Shape, Shape]] = field(default_factory=dict)  # in, out
    block_q: dict[str, int] = field(default_factory=dict)  # each block's required argument
    budget: int = 18  # entries left to write
    parts: dict[str, Named] = field(default_factory=dict)  # see GraphDraws
    block_parts: dict[str, Named] = field(default_factory=dict)
    made_parts: Named = ()  # the named parts of the composite just drawn
    made_nothing: bool = False  # it is a repeat of no items (inline: no output, no name)
    block_empty: set[str] = field(default_factory=set)  # blocks that are such repeats
    sees_input: set[str] = field(default_factory=set)  # blocks whose body may read `input`
    list_named: Named = ()  # the names the list just written gives its parent's path
    here: Ctx = field(default_factory=Ctx)  # where the layer being drawn is
    #: the named layers with weights: name -> (type, values as drawn, input shape)
    weighted: dict[str, tuple[str, dict[str, Any], Shape]] = field(default_factory=dict)
    drawn: tuple[str, dict[str, Any], Shape] | None = None  # the layer just drawn, so

    # -- small helpers -----------------------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def fresh(self, prefix: str = "n") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def pick(self, options: Any) -> Any:
        return self.rng.choice(list(options))

    def int_expr(self, value: int, ctx: Ctx, shape: Shape) -> Any:
        """`value`, or an expression that gives it: over a block's input shape or params,
        the repeat variable, or the spec's params."""
        if ctx.block_in is not None and self.chance(0.6):
            names = ("in_channels", "in_height", "in_width") if len(ctx.block_in) == 3 \
                else ("in_features",)
            name, size = self.pick(zip(names, ctx.block_in))
            if self.chance(0.5) and value <= size and size % value == 0:
                return f"{name} // {size // value}"
            return f"{name} + {value - size}" if value >= size else f"{name} - {size - value}"
        forms: list[str] = [f"width - {PARAMS['width'] - value}"]
        forms += [f"{name} * 0 + {value}" if value != v else name
                  for name, v in ctx.block_params]
        if ctx.repeat_var:
            forms.append(f"{value} + 0 * {ctx.repeat_var}")
        return self.pick(forms) if self.chance(0.4) else value

    # -- layers ------------------------------------------------------------------------------

    def layer_args(self, kind: str, shape: Shape, keep: str) -> dict[str, Any]:
        """Random arguments for `kind` on `shape`; keep: "" (anything), "spatial" (H and W
        kept) or "shape" (the whole shape kept)."""
        special = getattr(self, f"args_{kind}", None)
        if special is not None:
            return special(shape, keep)
        if kind in OPTIONAL:
            return {k: self.pick(v) for k, v in OPTIONAL[kind].items() if self.chance(0.5)}
        if kind in ACTIVATIONS:
            return {}
        raise AssertionError(f"specgen has no argument rule for layer type {kind!r}: add one "
                             "to OPTIONAL or an args_ method")

    def args_conv(self, shape: Shape, keep: str) -> dict[str, Any]:
        r, c = self.rng, shape[0]
        k, d = r.choice((1, 1, 2, 3, 4, 5)), r.choice((1, 1, 2, 3))
        out = c if keep == "shape" else r.randint(1, 8)
        args: dict[str, Any] = {"out": out, "kernel": k}
        if keep:
            odd = k % 2 == 1 and self.chance(0.5)
            args["padding"] = d * (k - 1) // 2 if odd else "same"
        else:
            stride = r.choice((1, 1, 2, 3))
            pad = r.choice((0, 1, 3, "same", "valid")) if stride == 1 else r.randint(0, k)
            args.update(stride=stride, padding=pad)
        if d > 1:
            args["dilation"] = d
        if not self.chance(0.3):
            args["bias"] = self.chance(0.5)
        roll = r.random()
        common = [g for g in range(2, 9) if c % g == 0 and out % g == 0]
        if roll < 0.2 and common:
            args["groups"] = r.choice(common)
        elif 0.2 <= roll < 0.3:  # LeNet-5's connection table: each output reads some inputs
            args["connections"] = [sorted(r.sample(range(c), r.randint(1, c)))
                                   for _ in range(out)]
        if self.chance(0.2):
            kept = keep != "spatial" or args["padding"] == "same"
            args["kernel"] = [k, r.choice((1, 3)) if kept else k]
        return args

    def args_conv_transpose(self, shape: Shape, keep: str) -> dict[str, Any]:
        r, c = self.rng, shape[0]
        k, d = r.choice((1, 2, 3, 4)), r.choice((1, 1, 2))
        out = c if keep == "shape" else r.randint(1, 8)
        args: dict[str, Any] = {"out": out, "kernel": k}
        if keep:  # stride 1 and padding d·(k − 1) / 2 keep the size
            if d * (k - 1) % 2:
                raise Retry
            args["padding"] = d * (k - 1) // 2
        else:
            stride = r.choice((1, 2, 2, 3))
            args.update(stride=stride, padding=r.randint(0, k // 2))
            if self.chance(0.3):
                args["output_padding"] = r.randint(0, max(stride, d) - 1)
        if d > 1:
            args["dilation"] = d
        if self.chance(0.3):
            args["bias"] = False
        common = [g for g in range(2, 9) if c % g == 0 and out % g == 0]
        if common and self.chance(0.2):
            args["groups"] = r.choice(common)
        return args

    def args_upsample(self, shape: Shape, keep: str) -> dict[str, Any]:
        r = self.rng
        mode = r.choice(("nearest", "nearest-exact", "bilinear", "bicubic"))
        args: dict[str, Any] = {"mode": mode} if self.chance(0.7) else {}
        if keep:
            args["size"] = [shape[1], shape[2]]
        else:
            args.update(r.choice(({"scale": 2}, {"scale": 1.5}, {"scale": [2, 1]}, {},
                                  {"size": [r.randint(1, 20), r.randint(1, 20)]})))
        if mode in ("bilinear", "bicubic") and "mode" in args and self.chance(0.5):
            args["align_corners"] = self.chance(0.5)
        return args

    def args_pad(self, shape: Shape, keep: str) -> dict[str, Any]:
        if keep:
            raise Retry
        r = self.rng
        args: dict[str, Any] = {"padding": r.choice((1, [r.randint(0, 2), r.randint(0, 2)],
                                                     [r.randint(0, 2) for _ in range(4)]))}
        if self.chance(0.6):
            args["mode"] = r.choice(("zeros", "constant", "reflect", "replicate", "circular"))
        if args.get("mode", "zeros") in ("zeros", "constant") and self.chance(0.3):
            args["value"] = 0.5
        return args

    def args_crop(self, shape: Shape, keep: str) -> dict[str, Any]:
        if keep:
            return {"size": [shape[1], shape[2]]}
        return {"size": [self.rng.randint(1, shape[1]), self.rng.randint(1, shape[2])]}

    def args_maxpool(self, shape: Shape, keep: str) -> dict[str, Any]:
        args = self.window(keep)
        if self.chance(0.3):
            if keep:
                raise Retry  # dilation widens the window past the padding
            args["dilation"] = self.pick((2, 3))
        if self.chance(0.2) and not keep:
            args["ceil_mode"] = True
        return args

    def args_avgpool(self, shape: Shape, keep: str) -> dict[str, Any]:
        args = self.window(keep)
        if self.chance(0.2) and not keep:
            args["ceil_mode"] = True
        if self.chance(0.3):
            args["count_include_pad"] = self.chance(0.5)
        return args

    def args_subsample(self, shape: Shape, keep: str) -> dict[str, Any]:
        return self.window(keep)

    def window(self, keep: str) -> dict[str, Any]:
        """A window, its stride and padding (at most half the kernel): pooling's common
        arguments; keeping the size takes an odd kernel at stride 1."""
        k = self.pick((1, 2, 3, 4, 5))
        if keep:
            if k % 2 == 0:
                raise Retry
            return {"kernel": k, "stride": 1, "padding": k // 2}
        args = {"kernel": k, "padding": self.rng.randint(0, k // 2)}
        if self.chance(0.6):
            args["stride"] = self.pick((1, 2, 3, 6))
        return args

    def args_adaptive_avgpool(self, shape: Shape, keep: str) -> dict[str, Any]:
        if keep == "shape":
            return {"size": [shape[1], shape[2]]}
        if keep:
            raise Retry
        r = self.rng
        size = self.sized_like(self.here.scope) if self.chance(0.5) else None
        return {"size": size or r.choice((1, 2, [r.randint(1, 5), r.randint(1, 20)]))}

    def args_global_avgpool(self, shape: Shape, keep: str) -> dict[str, Any]:
        if keep and shape[1:] != (1, 1):
            raise Retry
        return {}

    def args_channel_shuffle(self, shape: Shape, keep: str) -> dict[str, Any]:
        return {"groups": self.pick(g for g in range(1, shape[0] + 1) if shape[0] % g == 0)}

    def args_flatten(self, shape: Shape, keep: str) -> dict[str, Any]:
        if len(shape) > 1 and (keep or self.chance(0.4)):
            raise Retry  # keep most of the network on maps
        return {"start": 1} if len(shape) == 3 and self.chance(0.75) else {}  # tokens

    def args_attention(self, shape: Shape, keep: str) -> dict[str, Any]:
        heads = self.pick(h for h in range(1, shape[0] + 1) if shape[0] % h == 0)
        return {"heads": heads, **({"bias": False} if self.chance(0.3) else {})}

    def args_window_attention(self, shape: Shape, keep: str) -> dict[str, Any]:
        heads = self.pick(h for h in range(1, shape[0] + 1) if shape[0] % h == 0)
        window = self.rng.randint(1, min(8, max(shape[1:])))  # past H or W: padded
        args = {"heads": heads, "window": window}
        if window > 1 and self.chance(0.6):
            args["shift"] = self.rng.randint(1, window - 1)
        return {**args, **({"bias": False} if self.chance(0.3) else {})}

    def args_partition_attention(self, shape: Shape, keep: str) -> dict[str, Any]:
        sizes = [s for s in range(1, 9) if shape[1] % s == 0 and shape[2] % s == 0]
        heads = self.pick(h for h in range(1, shape[0] + 1) if shape[0] % h == 0)
        args = {"heads": heads, "size": self.pick(sizes)}
        if self.chance(0.5):
            args["grid"] = True
        return {**args, **({"bias": False} if self.chance(0.3) else {})}

    def args_patch_merge(self, shape: Shape, keep: str) -> dict[str, Any]:
        if keep:
            raise Retry  # 4x the channels, half the size
        return {}

    def args_class_token(self, shape: Shape, keep: str) -> dict[str, Any]:
        if keep:
            raise Retry  # one token more
        return {}

    def args_position_embedding(self, shape: Shape, keep: str) -> dict[str, Any]:
        return {}

    def args_token(self, shape: Shape, keep: str) -> dict[str, Any]:
        if keep:
            raise Retry  # tokens to a vector
        index = self.rng.randint(0, shape[1] - 1)
        return {"index": index} if index or self.chance(0.5) else {}

    def args_slice(self, shape: Shape, keep: str) -> dict[str, Any]:
        start = 0 if keep == "shape" else self.rng.randint(0, shape[0] - 1)
        stop = shape[0] if keep == "shape" else self.rng.randint(start + 1, shape[0])
        return {"start": start, "stop": stop} if start or self.chance(0.5) else {"stop": stop}

    def args_yolo_decode(self, shape: Shape, keep: str) -> dict[str, Any]:
        raise Retry  # it takes C x anchors, which these maps and vectors never are

    def args_linear(self, shape: Shape, keep: str) -> dict[str, Any]:
        args: dict[str, Any] = {"out": shape[0] if keep == "shape" else self.rng.randint(1, 8)}
        if len(shape) > 1 or self.chance(0.5):
            args["pointwise"] = len(shape) > 1
        if self.chance(0.3):
            args["bias"] = False
        return args

    def args_rbf(self, shape: Shape, keep: str) -> dict[str, Any]:
        return {"out": shape[0] if keep == "shape" else self.rng.randint(1, 8)}

    def layer(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        if len(shape) == 2:  # tokens: a token layer half the time
            kinds = sorted(TOKENS_ONLY if self.chance(0.5) else ON_TOKENS - TOKENS_ONLY)
        else:
            kinds = [name for name in TYPES if name not in TOKENS_ONLY
                     and not (name in MAP_ONLY and len(shape) == 1)
                     and not (name in VECTOR_ONLY and len(shape) == 3)]
        kind = self.pick(kinds)
        self.here = ctx
        args = self.layer_args(kind, shape, keep)
        owner = self.owner(shape, ctx) if self.chance(0.3) else None
        if owner is not None:  # its weights' arguments, the rest drawn anew
            kind, owned, _ = self.weighted[owner]
            depends = REGISTRY[kind].weight_args or ()
            args = {**{k: v for k, v in self.layer_args(kind, shape, keep).items()
                       if k not in depends}, **{k: v for k, v in owned.items() if k in depends}}
        self.drawn = (kind, dict(args), shape)
        out = infer(kind, args, shape)
        if max(out[:1] if len(out) == 2 else out) > 64 or out[-1] > 256 \
                or out[0] > MAX_CHANNELS or keep == "shape" and out != shape \
                or keep == "spatial" and out[1:] != shape[1:]:
            raise Retry
        self.like(args, out, ctx.scope, lambda size: infer(kind, {**args, "size": size}, shape))
        for key in ("out", "groups", "size"):
            if isinstance(args.get(key), int) and not isinstance(args[key], bool):
                args[key] = self.int_expr(args[key], ctx, shape)
        if kind == "dropout" and "p" in args and ctx.repeat_var and self.chance(0.5):
            args["p"] = f"{args['p']} + 0 * {ctx.repeat_var}"
        if kind == "drop_path" and self.chance(0.2):
            args["p"] = "rate"
        if owner is not None:
            args["shares"] = owner
        return {self.alias(kind): args or None}, out

    def owner(self, shape: Shape, ctx: Ctx) -> str | None:
        """A named layer in scope whose weights a layer on `shape` could use (`shares:`):
        of a type that takes `shape`, on as many channels (and axes, where its weights'
        shape follows them)."""
        fit = []
        for name, _ in ctx.scope:
            kind, _, seen = self.weighted.get(name, ("", {}, ()))
            if kind and seen[0] == shape[0] and not (kind in MAP_ONLY and len(shape) != 3) \
                    and not (REGISTRY[kind].weights_follow_axes and len(seen) != len(shape)) \
                    and (len(shape) == 2 or kind not in TOKENS_ONLY):
                fit.append(name)
        return self.pick(fit) if fit else None

    def alias(self, kind: str) -> str:
        names = [kind, *REGISTRY[kind].aliases]
        return kind if self.chance(0.7) else self.pick(names)

    # -- entries -----------------------------------------------------------------------------

    def entry(self, shape: Shape, ctx: Ctx, keep: str = "") -> tuple[Entry, Shape]:
        """One entry on `shape` (drawn again until it fits), with common keys."""
        for _ in range(200):
            self.made_parts, self.made_nothing = (), False
            try:
                entry, out = self.draw(shape, ctx, keep)
            except Retry:
                continue
            parts = self.made_parts
            self.common(entry, ctx)
            (kind, args), = entry.items()
            if args and "name" in args:
                self.parts[args["name"]] = parts
                if kind in REGISTRY and REGISTRY[kind].weight_args is not None \
                        and "shares" not in args and self.drawn is not None:
                    self.weighted[args["name"]] = self.drawn
            self.budget -= 1
            return entry, out
        raise AssertionError(f"no entry fits {shape} with keep={keep!r}")

    def draw(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        if ctx.scope and self.chance(ctx.graph):
            def reading(at: Shape) -> tuple[Entry, Shape]:  # an entry on a named output
                return self.plain(at, replace(ctx, flow=True), keep)
            return self.graph_entry(shape, ctx.scope, keep, reading, ctx.names)
        return self.plain(shape, ctx, keep)

    def plain(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        """A layer or a composite reading the output flowing in."""
        composite = ctx.depth < 3 and self.budget > 3 and self.chance(0.35)
        if not composite:
            return self.layer(shape, ctx, keep)
        kind = self.pick(("sequence", "residual", "concat", "gate", "repeat", "block"))
        inner = replace(ctx, depth=ctx.depth + 1)
        return getattr(self, kind)(shape, inner, keep)

    def common(self, entry: Entry, ctx: Ctx) -> None:
        """name, frozen and a kept `when`, each now and then."""
        (kind, args), = entry.items()
        if args is None:
            args = {}
        if ctx.names and self.chance(0.35) and "name" not in args:
            args["name"] = self.fresh()
        roll = self.rng.random()
        if roll < 0.12:
            args["frozen"] = True
        elif roll < 0.16:
            args["frozen"] = "not off"
        elif roll < 0.2:
            args["frozen"] = False
        if self.chance(0.08):
            args["when"] = "on"
        entry[kind] = args or None

    def entries(self, shape: Shape, ctx: Ctx, keep: str = "", least: int = 1,
                most: int = 3, named: tuple[list, list] | None = None
                ) -> tuple[list[Entry], Shape]:
        """A list of entries; with keep, the list as a whole keeps what it must (each entry
        does). Now and then a dropped entry (`when` false) is written among them.
        `named`: the list's names so far, (those its entries read, those a dotted name
        reaches), when the list is written in several calls; `list_named` gives the latter."""
        out: list[Entry] = []
        local, exposed = named or ([], [])
        n = self.rng.randint(least, most) if self.budget > 0 else least
        flow = ctx.flow
        for _ in range(n):
            here = replace(ctx, scope=ctx.scope + tuple(local), flow=flow)
            if self.chance(0.08):
                dropped, _ = self.entry(shape, here, keep)
                (kind, args), = dropped.items()
                args = dict(args or {})
                args["when"] = self.pick(("off", "not on", "width > 100", False))
                out.append({kind: args})
            entry, shape = self.entry(shape, here, keep)
            out.append(entry)
            (kind, args), = entry.items()
            args = args or {}
            empty = self.empty_inline(kind, args)
            if not empty:  # it gives the output the next entry reads
                flow = True
            if "name" in args and not empty:
                local.append((args["name"], shape))
            if args.get("inline") is True:  # its children are named among this list's
                local += self.made_parts
                exposed += self.made_parts
            elif "name" in args:
                exposed.append((args["name"], shape))
        self.list_named = tuple(exposed)
        return out, shape

    def empty_inline(self, kind: str, args: dict[str, Any]) -> bool:
        """Whether the entry just drawn is an inline repeat of no items (or a call of one):
        the resolver leaves it out, with its name and its from:."""
        return bool(args.get("inline") is True and self.made_nothing
                    and (kind == "repeat" or kind in self.block_empty))

    # -- composites --------------------------------------------------------------------------

    def sequence(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        inline = ctx.names and self.chance(0.3)  # its names are unique, so they may land
        layers, out = self.entries(shape, ctx, keep)  # among its parent's
        args: dict[str, Any] = {"layers": layers}
        if inline:
            args["inline"] = True
        self.made_parts = self.list_named
        return {"sequence": args}, out

    def residual(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        form = self.pick(("auto", "identity", "none", "list", "expr", "default"))
        body_keep = "shape" if form in ("identity", "expr") else keep
        body, out = self.entries(shape, ctx, body_keep)
        parts = self.list_named
        args: dict[str, Any] = {"layers": body}
        if form == "auto" or form == "default":
            if out != shape and (len(shape) == 1 or strides(shape, out) is None):
                raise Retry
            if form == "auto":
                args["shortcut"] = "auto"
        elif form == "identity":
            args["shortcut"] = "identity"
        elif form == "none":
            args["shortcut"] = "none"
        elif form == "expr":
            if ctx.block_in is not None and len(ctx.block_in) == 3:
                args["shortcut"] = (f"'identity' if in_channels == {ctx.block_in[0]} "
                                    "else 'none'")
            else:
                args["shortcut"] = "'identity' if on else 'none'"
        else:
            args["shortcut"] = self.shortcut(shape, out, ctx)
        if form in ("auto", "list", "default") and self.chance(0.4):
            args["shortcut_name"] = self.pick(("downsample", self.fresh("ds")))
        if self.chance(0.4):
            args["after"], out = self.entries(out, replace(ctx, flow=form == "none"), keep,
                                              most=2)
            parts += self.list_named
        self.made_parts = parts
        return {"residual": args}, out

    def shortcut(self, shape: Shape, out: Shape, ctx: Ctx) -> list[Entry]:
        """Layers from `shape` to `out`: a 1x1 conv (or a linear) and more now and then."""
        if shape == out and self.chance(0.3):
            return []
        if len(shape) == 1:
            if len(out) != 1:  # a body that reads a named map by from: ends on one
                raise Retry
            first: Entry = {"linear": {"out": out[0]}}
        else:
            step = strides(shape, out)
            if step is None:
                raise Retry
            first = {"conv": {"out": out[0], "kernel": 1, "stride": list(step)}}
        layers = [first]
        if self.chance(0.5):
            tail, _ = self.entries(out, ctx, "shape", most=2)
            layers += tail
        return layers

    def concat(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        n = self.rng.randint(1, 3)
        split = len(shape) == 3 and shape[0] % n == 0 and self.chance(0.3)
        part = (shape[0] // n, *shape[1:]) if split else shape
        branches: list[Any] = []
        made: list[tuple[Shape, Named, str | None]] = []  # each branch's output and parts
        channels = 0
        for _ in range(n):
            if self.chance(0.2):
                branches.append([])
                made.append((part, (), None))
                channels += part[0]
                continue
            if self.chance(0.4):
                entry, out = self.entry(part, replace(ctx, flow=ctx.flow and not split),
                                        "spatial")
                (kind, args), = entry.items()
                if args:  # a branch is named after itself: `inline` would dissolve it
                    args.pop("inline", None)
                branches.append(entry)
                made.append((out, self.made_parts, (args or {}).get("name")))
            else:
                items, out = self.entries(part, replace(ctx, flow=ctx.flow and not split),
                                          "spatial", most=2)
                branches.append(items)
                made.append((out, self.list_named, None))
            channels += out[0]
        joined = (channels, *shape[1:])
        if keep == "shape" and joined != shape or channels > MAX_CHANNELS:
            raise Retry
        args: dict[str, Any] = {}
        parts: Named = ()
        if self.chance(0.5):
            keys = [self.fresh("b") for _ in branches]
            args["branches"] = dict(zip(keys, branches))
            for key, (out, inner, own) in zip(keys, made):  # a branch entry's own name wins
                self.parts[own or key] = inner
                parts += ((own or key, out),)
        else:
            args["branches"] = branches
        if split:
            args["split"] = self.pick((True, "on"))
        if self.chance(0.3):
            args["after"], joined = self.entries(joined, replace(ctx, flow=False), keep,
                                                 most=2)
            parts += self.list_named
        self.made_parts = parts
        return {"concat": args}, joined

    def gate(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        if len(shape) == 3 and self.chance(0.6):
            c = shape[0]
            hidden = self.rng.randint(1, 8)
            layers: list[Entry] = [
                {self.pick(("global_avgpool", "adaptive_avgpool")): None},
                {"conv": {"out": self.int_expr(hidden, ctx, shape), "kernel": 1}},
                {self.pick(("relu", "silu")): None},
                {"conv": {"out": self.int_expr(c, ctx, shape), "kernel": 1,
                          "bias": self.chance(0.5)}},
                {self.pick(("sigmoid", "hardsigmoid")): None},
            ]
            if self.chance(0.3):
                layers[1:3] = []
            self.made_parts = ()
        else:
            layers, _ = self.entries(shape, ctx, "shape")
            layers.append({self.pick(("sigmoid", "hardsigmoid", "tanh")): None})
            self.made_parts = self.list_named
        return {"gate": {"layers": layers}}, shape

    def repeat(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        var = self.pick(("i", "j", "k"))
        count = self.rng.randint(0, 3)
        inline = ctx.names and self.chance(0.3)
        inner = replace(ctx, repeat_var=var, names=ctx.names and not inline)
        args: dict[str, Any] = {"count": count if self.chance(0.6) else f"width - {4 - count}"}
        if var != "i" or self.chance(0.5):
            args["var"] = var
        if self.chance(0.5):
            entry, _ = self.entry(shape, replace(inner, names=False), "shape")
            body: Any = entry
        else:
            body, _ = self.entries(shape, inner, "shape")
            (kind, item), = body[0].items()
            if self.chance(0.5) and not {"name", "inline"} & set(item or {}):  # when drops
                # its name, which later items may read
                item = dict(item or {})
                item["when"] = f"{var} != 1"
                body[0] = {kind: item}
        args["body"] = body
        if self.chance(0.3):
            args["prefix"] = self.fresh("unit")
            if self.chance(0.5):
                args["start"] = 1
        if inline:
            args["inline"] = True
        self.made_parts = ()  # its items are reached by index (rep.0.x): not drawn here
        self.made_nothing = count == 0
        return {"repeat": args}, shape

    def block(self, shape: Shape, ctx: Ctx, keep: str) -> tuple[Entry, Shape]:
        """A call of an existing block defined for this shape, or of a new one."""
        known = [name for name, (at, out) in self.block_shapes.items()
                 if at == shape and (ctx.flow or name not in self.sees_input)
                 and (not keep or out == shape
                                     or keep == "spatial" and out[1:] == shape[1:])]
        if known and self.chance(0.5):
            name = self.pick(known)
            self.made_parts = self.block_parts[name]
            self.made_nothing = name in self.block_empty
            return {name: self.call_args(name)}, self.block_shapes[name][1]
        name = self.fresh("blk")
        q = self.rng.randint(1, 8)
        params = {"q": None, "r": "q + 1", "s": self.rng.randint(1, 4)}
        kind = self.pick(("layers", "residual", "concat", "gate", "repeat"))
        # several tensor inputs (`inputs: [x, skip]`, called with `from:`), read in a list
        reads = self.several_inputs(shape, ctx.scope, keep) if self.chance(0.3) else None
        if reads:
            kind, shape = "layers", reads[0][1]
        inputs = [self.fresh("src") for _ in reads or ()]
        flow = ctx.flow or bool(reads)  # else its input has no name: the body cannot read it
        if flow:
            self.sees_input.add(name)
        # An inline call of a repeat makes its items inline: they share one namespace.
        inline = kind in ("layers", "repeat") and ctx.names and self.chance(0.3)
        inner = Ctx(depth=ctx.depth, block_in=shape,
                    block_params=(("q", q), ("r", q + 1), ("s", params["s"])),
                    names=not (inline and kind == "repeat"),
                    scope=((("input", shape),) if flow else ())
                    + tuple((x, s) for x, (_, s) in zip(inputs, reads or ())),
                    graph=0.5 if reads else ctx.graph, flow=flow)
        if kind == "layers":
            body, out = self.entries(shape, inner, keep)
            self.made_parts = self.list_named
        else:
            entry, out = getattr(self, kind)(shape, inner, keep)
            body = entry[kind]
        self.blocks[name] = {"params": params, **({"inputs": inputs} if reads else {}),
                             kind: body}
        if self.chance(0.3):
            self.blocks[name]["description"] = f"block {name}"
        if not reads:  # called again only where it reads the output flowing in
            self.block_shapes[name] = (shape, out)
        self.block_q[name] = q
        self.block_parts[name] = self.made_parts
        if kind == "repeat" and self.made_nothing:
            self.block_empty.add(name)
        call = self.call_args(name)
        if inline:
            call["inline"] = True
        if reads:
            call["from"] = [n for n, _ in reads]
        return {name: call}, out

    def call_args(self, name: str) -> dict[str, Any]:
        q = self.block_q[name]
        args: dict[str, Any] = {"q": q if self.chance(0.5) else f"width * 0 + {q}"}
        if self.chance(0.3):
            args["s"] = self.blocks[name]["params"]["s"]
        return args


def infer(kind: str, args: dict[str, Any], shape: Shape) -> Shape:
    """The layer's output shape by its own class (Retry when it cannot take `shape`)."""
    cls: type[Layer] = REGISTRY[kind]
    try:
        return cls.create(**args).infer(shape).output
    except (ArgError, ShapeError) as exc:
        raise Retry from exc


def strides(shape: Shape, out: Shape) -> tuple[int, int] | None:
    """The per-axis stride of a 1x1 conv from `shape` to `out`'s size (auto's rule)."""
    if len(out) != 3 or len(shape) != 3:
        return None
    found = []
    for size, target in zip(shape[1:], out[1:]):
        s = next((s for s in range(1, size + 1) if (size - 1) // s + 1 == target), None)
        if s is None:
            return None
        found.append(s)
    return found[0], found[1]


def random_spec(seed: int) -> str:
    """The YAML text of one random valid spec; the same seed gives the same text."""
    rng = random.Random(seed)
    gen = Gen(rng, budget=rng.randint(4, 18))
    if rng.random() < 0.1:
        shape: Shape = (rng.randint(1, 16),)
    else:
        shape = (rng.randint(1, 8), rng.randint(4, 16), rng.randint(4, 16))
    top = Ctx(scope=(("input", shape),))
    named: tuple[list, list] = ([], [])  # the top level's names: one list, written in parts
    layers: list[Entry] = []
    out = shape
    if len(shape) == 3 and rng.random() < 0.15:  # a transformer's: on tokens from the start
        layers, out = [{"flatten": {"start": 1}}], (shape[0], shape[1] * shape[2])
    more, out = gen.entries(out, top, most=6, named=named)
    layers += more
    while gen.budget > 0:
        more, out = gen.entries(out, top, most=3, named=named)
        layers += more
    spec: dict[str, Any] = {"name": f"random{seed}", "input": list(shape),
                            "params": dict(PARAMS)}
    if gen.blocks:
        spec["blocks"] = gen.blocks
    spec["layers"] = layers
    outputs = network_outputs(rng, named[1], gen)
    if outputs:
        spec["outputs"] = outputs
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
