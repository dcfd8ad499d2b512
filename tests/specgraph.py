"""The graph form for tests/specgen.py: entries that read a named earlier output (`from:`),
joins of several (`add`, `multiply`, `concat` with `from:`), blocks with several inputs,
`like:` on a layer with a `size` and a network's `outputs:`.

The generator knows every named output's shape as it writes it: a list's names (and, for an
inline entry, its children's) are visible to its later entries and to every list nested in
them, a block body sees only its inputs, and a named composite's named parts are reachable
by a dotted name (`seq.conv`), all as docs/spec-language.md's "Graphs" says. A name is read
only where its shape fits: with keep "shape" an input of the list's shape, with "spatial"
one of its height and width, so each list still keeps what it must.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

Shape = tuple[int, ...]
Entry = dict[str, Any]
Named = tuple[tuple[str, Shape], ...]

MAX_CHANNELS = 24


class Retry(Exception):
    """This choice does not fit the shape: draw again."""


def fits(out: Shape, shape: Shape, keep: str) -> bool:
    """Whether `out` may stand where a list that keeps `keep` of `shape` has `shape`."""
    if keep == "shape":
        return out == shape
    if keep == "spatial":
        return len(out) == len(shape) and out[1:] == shape[1:]
    return True


class GraphDraws:
    """The graph draws of specgen.Gen (which provides rng, fresh, pick, chance)."""

    rng: random.Random
    parts: dict[str, Named]  # a named composite's named parts: name -> ((part, shape), ...)

    def chance(self, p: float) -> bool: ...
    def fresh(self, prefix: str = "n") -> str: ...
    def pick(self, options: Any) -> Any: ...
    def empty_inline(self, kind: str, args: dict[str, Any]) -> bool: ...

    def visible(self, scope: Named) -> list[tuple[str, Shape]]:
        """The names an entry may read: those in scope, and dotted ones into them."""
        found: list[tuple[str, Shape]] = []
        for name, shape in scope:
            found.append((name, shape))
            found += self.dotted(name, name, 2)
        return found

    def dotted(self, path: str, name: str, depth: int) -> list[tuple[str, Shape]]:
        if depth == 0:
            return []
        found: list[tuple[str, Shape]] = []
        for part, shape in self.parts.get(name, ()):
            found.append((f"{path}.{part}", shape))
            found += self.dotted(f"{path}.{part}", part, depth - 1)
        return found

    def graph_entry(self, shape: Shape, scope: Named, keep: str, plain: Any,
                    names_ok: bool = True) -> tuple[Entry, Shape]:
        """A join of named outputs, or an entry (drawn by `plain` on the shape it reads)
        that reads one with `from:`."""
        names = self.visible(scope)
        if self.chance(0.5):
            return self.join(names, shape, keep, names_ok)
        fit = [(n, s) for n, s in names if fits(s, shape, keep)]
        named = [(n, s) for n, s in fit if n != "input"]  # the input is always there
        if not fit:
            raise Retry
        source, at = self.pick(named if named and self.chance(0.7) else fit)
        entry, out = plain(at)
        (kind, args), = entry.items()
        args = dict(args or {})
        if "from" in args:  # a call of a block with several inputs names its own
            raise Retry
        if self.empty_inline(kind, args):  # left out, its from: too: the next entry would
            raise Retry  # read the output before it (the resolver's rule; see the report)
        args["from"] = source
        return {kind: args}, out

    def join(self, names: list[tuple[str, Shape]], shape: Shape, keep: str,
             names_ok: bool = True) -> tuple[Entry, Shape]:
        """add (one shape), multiply (one shape, or a map and a Cx1x1 factor) or concat
        (one height and width) of 2 or 3 named outputs; the same name twice now and then."""
        op = self.pick(("add", "multiply", "concat"))
        groups: dict[Any, list[tuple[str, Shape]]] = defaultdict(list)
        for name, s in names:
            groups[s[1:] if op == "concat" else s].append((name, s))
        n = self.pick((2, 2, 3))
        fitting = [g for g in groups.values() if len(g) >= n or self.chance(0.1)]
        if op == "multiply" and self.chance(0.5):  # a map times a factor of its channels
            factors = {s: name for name, s in names if len(s) == 3 and s[1:] == (1, 1)}
            pairs = [[(name, s), (factors[(s[0], 1, 1)], (s[0], 1, 1))] for name, s in names
                     if len(s) == 3 and s[1:] != (1, 1) and (s[0], 1, 1) in factors]
            if pairs:
                chosen = self.pick(pairs)
                self.rng.shuffle(chosen)
                return self.joined(op, chosen, shape, keep)
            maps = [(n, s) for n, s in names
                    if len(s) == 3 and s[1:] != (1, 1) and fits(s, shape, keep)]
            if maps and names_ok:
                return self.squeezed(*self.pick(maps))
        if not fitting:
            raise Retry
        group = self.pick(fitting)
        chosen = [self.pick(group) for _ in range(n)] if len(group) < n \
            else self.rng.sample(group, n)
        return self.joined(op, chosen, shape, keep)

    def squeezed(self, name: str, shape: Shape) -> tuple[Entry, Shape]:
        """A map times its own channel means, as SE does with named outputs: an inline
        sequence of a named global_avgpool (Cx1x1) and the multiply."""
        factor = self.fresh()
        self.made_parts = ((factor, (shape[0], 1, 1)),)  # named among its parent's
        pair = [name, factor] if self.chance(0.5) else [factor, name]
        return {"sequence": {"layers": [{"global_avgpool": {"from": name, "name": factor}},
                                        {"multiply": {"from": pair}}],
                             "inline": True}}, shape

    def joined(self, op: str, chosen: list[tuple[str, Shape]], shape: Shape,
               keep: str) -> tuple[Entry, Shape]:
        shapes = [s for _, s in chosen]
        if op == "concat":
            out = (sum(s[0] for s in shapes), *shapes[0][1:])
        else:
            out = next((s for s in shapes if s[1:] != (1, 1)), shapes[0])
        if out[0] > MAX_CHANNELS or not fits(out, shape, keep):
            raise Retry
        return {op: {"from": [name for name, _ in chosen]}}, out

    def like(self, args: dict[str, Any], out: Shape, scope: Named, infer: Any) -> None:
        """A `size` taken from a named map of that height and width instead, half the time;
        only where the size is one (`infer(size)` gives `out`: lrn's size is a window)."""
        if "size" not in args or len(out) != 3 or not self.chance(0.7):
            return
        try:
            if infer(list(out[1:])) != out:
                return
        except Retry:
            return
        same = [n for n, s in self.visible(scope) if len(s) == 3 and s[1:] == out[1:]]
        if same:
            del args["size"]
            args["like"] = self.pick(same)

    def sized_like(self, scope: Named) -> list[int] | None:
        """The height and width of a named map, for a layer's `size` (then often `like:`)."""
        maps = [s for _, s in self.visible(scope) if len(s) == 3]
        return list(self.pick(maps)[1:]) if maps else None

    def several_inputs(self, shape: Shape, scope: Named,
                       keep: str) -> list[tuple[str, Shape]] | None:
        """Names for a call of a block with 2 or 3 inputs: the first fits where it is
        called (it is the block's input); the others are any named outputs."""
        names = self.visible(scope)
        first = [(n, s) for n, s in names if fits(s, shape, keep)]
        if not first:
            return None
        return [self.pick(first), *(self.pick(names) for _ in range(self.pick((1, 1, 2))))]


def network_outputs(rng: random.Random, exposed: list[tuple[str, Shape]],
                    gen: GraphDraws) -> list[str] | None:
    """`outputs:` with one or two of the network's named entries (dotted ones too)."""
    names = [n for n, _ in gen.visible(tuple(exposed))]
    if not names or rng.random() >= 0.3:
        return None
    return rng.sample(names, min(len(names), rng.choice((1, 2, 2))))
