"""Layers on token sequences, as vision transformers use them: a map's positions read as a
sequence of L tokens of D features each, shape D x L (what `flatten: {start: 1}` makes of a
D x H x W map; torch holds it as (N, D, L), laid out as (N, L, D) the way transformers
store tokens). The class token, the learned position embedding, multi-head self-attention
and the pick of one token (the class token's features, for the classifier head)."""

from __future__ import annotations

from typing import Any

from .base import (
    Arg,
    Calls,
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


def need_tokens(layer: str, shape: Shape) -> tuple[int, int]:
    """Unpack (D, L), or explain that a token sequence is needed."""
    if len(shape) != 2:
        what = "a feature map" if len(shape) == 3 else "a flat vector"
        raise ShapeError(f"{layer} needs a token sequence D x L (a map flattened with "
                         f"flatten: {{start: 1}}) but gets {what} {shape_text(shape)}")
    return shape  # type: ignore[return-value]


class ClassToken(Layer):
    name = "class_token"
    aliases = ("cls_token",)
    summary = ("prepends a learned token of D features to the sequence (ViT's class token, "
               "whose features the classifier reads)")
    work = "none (a copy)"

    def infer(self, shape: Shape) -> Cost:
        d, n = need_tokens(self.name, shape)
        return Cost(output=(d, n + 1), params=d)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        d, n = shape
        return [Figure("params", str(d), cost.params, "one learned token of D features"),
                Figure("output tokens", f"{n} + 1", n + 1,
                       "the class token first, then the input's tokens: a copy, no arithmetic")]

    def build(self, shape: Shape) -> Any:
        from .modules_tokens import ClassToken as Module

        return Module(shape[0])

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """A concatenation keeps nothing (its backward needs only the sizes)."""
        return []

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        """The tokens are concatenated as (N, L, D), then read as D x L."""
        return True


class PositionEmbedding(Layer):
    name = "position_embedding"
    aliases = ("pos_embedding",)
    summary = "adds a learned vector to each token, one per position (ViT's pos_embedding)"
    work = "1 per element: the add"

    def infer(self, shape: Shape) -> Cost:
        d, n = need_tokens(self.name, shape)
        return Cost(output=shape, params=d * n, other_ops=d * n)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        d, n = shape
        return [Figure("params", dot(d, n), cost.params,
                       "a learned vector of D features for each of the L positions")] + \
            self.elementwise(shape, cost, 1, "one add per element")

    def build(self, shape: Shape) -> Any:
        from .modules_tokens import PositionEmbedding as Module

        return Module(*shape)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """An add keeps nothing."""
        return []


class Attention(Layer):
    name = "attention"
    aliases = ("self_attention", "multihead_attention")
    summary = ("multi-head self-attention over the tokens (torch.nn.MultiheadAttention's "
               "weights): q, k, v projections, softmax(q·kᵀ/√d)·v per head, an output "
               "projection")
    work = "MACs: the four projections and the two products per head"
    counts_macs = True
    autocast = "half"
    weight_args = ("bias",)  # the heads split the same (3D, D) weight
    time_kind = "conv1x1"
    heads: Arg[int] = Arg("int", min=1, doc="attention heads; they split the D features")
    bias: Arg[bool] = Arg("bool", True, doc="biases on the projections")

    def infer(self, shape: Shape) -> Cost:
        d, n = need_tokens(self.name, shape)
        if d % self.heads:
            raise ShapeError(f"{d} features do not split into {self.heads} heads")
        biases = 4 * d if self.bias else 0
        macs = 4 * n * d * d + 2 * n * n * d
        # biases, the scale of q, and softmax's 3 per score (exp, sum, divide)
        other = (biases * n) + n * d + 3 * self.heads * n * n
        return Cost(output=shape, params=4 * d * d + biases, macs=macs, other_ops=other,
                    connections=macs + biases * n, rf_global=True)

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        d, n = shape
        h = self.heads
        bias = f" + 4 · {d}" if self.bias else ""
        return [
            Figure("params", f"4 · {d} · {d}{bias}", cost.params,
                   "the q, k, v and output projections, D x D each"
                   + (", with a bias each" if self.bias else "")),
            Figure("MACs", f"4 · {n} · {d} · {d} + 2 · {n} · {n} · {d}", cost.macs,
                   f"the four projections of {n} tokens, then q·kᵀ and the weighted sum of v: "
                   f"{h} head(s) of {d // h} features, each {n} x {n} scores"),
            Figure("other ops", f"{4 * n * d if self.bias else 0} + {n} · {d} + 3 · {h} · {n}"
                   f" · {n}", cost.other_ops,
                   "bias adds, q scaled by 1/√(head features), softmax over each row of "
                   "scores (3 per score)"),
        ]

    def build(self, shape: Shape) -> Any:
        from .modules_tokens import SelfAttention

        return SelfAttention(shape[0], self.heads, self.bias)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """What the math of attention keeps, as torch runs it (`modules_tokens.SelfAttention`).

        The q, k, v projection keeps its input, folded to (N·L, D), where its weight trains.
        The two batched products keep their operands as (N·heads, L, d): q scaled (L·D),
        the softmax's output (heads·L·L, which softmax keeps too), and k and v, copies of
        L·D each, or, where the batch or the heads are one, views of the projection's
        output (3·L·D, one storage). The output projection keeps its input, the heads'
        outputs gathered back to (N·L, D), where its weight trains. Under autocast, the
        projections' half weights."""
        d, n = shape
        return windowed_saved(d, n, n, self.heads, trainable,
                              Saved("input", n * d, folded=True))

    def channels_last(self, shape: Shape, channels_last: bool) -> bool:
        """The output projection writes (N, L, D), read as D x L."""
        return True

    def calls(self, shape: Shape) -> Calls:
        """Two GEMMs and two batched products: a 1x1 conv's kind of work, four calls."""
        return Calls("conv1x1", count=4)


def windowed_saved(c: int, tokens: int, area: int, heads: int, trainable: bool,
                   projected: Saved | None = None) -> list[Saved]:
    """What attention within windows of `area` positions keeps, `tokens` positions in all
    (one window of them all: `attention`): one of q and k scaled (a new tensor), the other
    two of q, k, v copied for the batched products, or views of the projection's output
    (3 · tokens · c, one storage) where the heads or the windows of the whole batch are one;
    the softmax's output; where its weights train, what the q, k, v projection reads
    (`projected`: by default the windows, a copy) and the heads' outputs. Under autocast the
    projections' half copies."""
    two = 3 * tokens * c if heads == 1 else 2 * tokens * c
    saved = [Saved("scaled", tokens * c), Saved("scores", heads * tokens * area),
             Saved("copied", two, single=3 * tokens * c if tokens == area else None)]
    if trainable:
        saved = [projected or Saved("windows", tokens * c), *saved, Saved("heads", tokens * c)]
    return saved + [Saved("half weight", 4 * c * c, "half", per_sample=False)]


class Token(Layer):
    name = "token"
    summary = "the D features of one token, a vector (ViT's classifier reads the class token)"
    work = "none (a view)"
    time_kind = "view"
    index: Arg[int] = Arg("int", 0, min=0, doc="which token (0: the class token)")

    def infer(self, shape: Shape) -> Cost:
        d, n = need_tokens(self.name, shape)
        if self.index >= n:
            raise ShapeError(f"token {self.index} is past the {n} tokens of {shape_text(shape)}")
        return Cost(output=(d,))

    def explain(self, shape: Shape, cost: Cost) -> list[Figure]:
        return [Figure("output features", str(shape[0]), shape[0],
                       f"token {self.index}'s features: a view, no arithmetic")]

    def build(self, shape: Shape) -> Any:
        from .modules_tokens import TokenSelect

        return TokenSelect(self.index)

    def saved(self, shape: Shape, cost: Cost, grad_in: bool, trainable: bool) -> list[Saved]:
        """Nothing: the pick's backward needs only the sizes."""
        return []

    def output_is_input(self, shape: Shape, layout: Layout) -> bool:
        return True

    def view_dense(self, shape: Shape, layout: Layout) -> bool:
        """One token of each sample: the samples' features lie apart (and, where the tokens
        are stored channels-first, so do its features)."""
        return layout.dense and (shape[1] == 1 or layout.batch == 1 and layout.channels_last)

