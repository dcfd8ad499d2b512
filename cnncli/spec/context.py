"""What the resolver passes down each entry (`Context`) and the helpers it shares with the
composites: evaluating values, flags, and how names and indices are claimed in a list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Mark, SpecError, yaml_repr
from ..layers import Shape
from ..records import Frozen
from .blocks import SHAPE_NAMES
from .expr import ExprError, evaluate
from .ir import INPUT, Node, written
from .yamlsrc import YAML11_BOOLEANS, YList, YMap

MAX_NODES = 200_000


class Context(Frozen):
    """Where an entry is resolved. Passed down, never changed: a child gets a copy
    (`ctx.replace(...)`) with what differs for it."""

    scope: dict[str, Any]  # the names its expressions see
    prefix: str  # the namespace its name joins (an inline composite's: its parent's)
    frozen: bool
    shape: Shape  # the shape flowing into it
    start: int  # where an inline composite's unnamed children start counting
    inline: bool  # the composite being entered is inline
    path: str | None  # the entry being resolved, for messages about its values
    calls: tuple[str, ...]  # the blocks being expanded, outermost first
    #: the outputs an entry may read by name (`from:`): this list's earlier entries, then
    #: the enclosing lists' (a block body sees only its inputs); name -> node
    tensors: Mapping[str, Node]
    #: the path of the node whose output is `shape` (INPUT for the network's input)
    last: str
    #: names given to entries later in this list: name -> where (for "defined later")
    ahead: Mapping[str, Mark]

    def __init__(self, scope: dict[str, Any], prefix: str, frozen: bool, shape: Shape,
                 start: int = 0, inline: bool = False, path: str | None = None,
                 calls: tuple[str, ...] = (), tensors: Mapping[str, Node] | None = None,
                 last: str = INPUT, ahead: Mapping[str, Mark] | None = None) -> None:
        self._set(scope=scope, prefix=prefix, frozen=frozen, shape=shape, start=start,
                  inline=inline, path=path, calls=calls,
                  tensors={} if tensors is None else tensors, last=last,
                  ahead={} if ahead is None else ahead)


class Budget:
    """Counts the nodes made, so that a runaway repeat stops with a message."""

    def __init__(self, limit: int = MAX_NODES):
        self.limit, self.used = limit, 0

    def take(self, mark: Mark, path: str | None) -> None:
        self.used += 1
        if self.used > self.limit:
            raise SpecError(f"the network has more than {self.limit:,} layers", mark, path)


def value(raw: Any, scope: dict[str, Any], mark: Mark, literal: tuple = (),
          path: str | None = None) -> Any:
    """Evaluate text as an expression (except `literal` words); lists element-wise."""
    if isinstance(raw, str) and raw not in literal:
        if raw in YAML11_BOOLEANS and raw not in scope:
            raise SpecError(f"{raw!r} is not true or false in a spec (YAML 1.1 read it as a "
                            "boolean, cnncli does not): write true or false", mark, path)
        try:
            return evaluate(raw, scope)
        except ExprError as exc:
            raise SpecError(f"in expression {raw!r}: {exc}", mark, path) from None
    if isinstance(raw, list):
        marks = raw.item_marks if isinstance(raw, YList) else [mark] * len(raw)
        return [value(item, scope, m, literal, path) for item, m in zip(raw, marks)]
    return raw


def flag(args: YMap, key: str, scope: dict[str, Any], default: bool,
         path: str | None) -> bool:
    """A true/false option of an entry (or an expression giving one)."""
    if key not in args:
        return default
    result = value(args[key], scope, args.mark_of(key), path=path)
    if not isinstance(result, bool):
        raise SpecError(f"{key} must be true or false (or an expression giving one), "
                        f"got {yaml_repr(result)}", args.mark_of(key), path)
    return result


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def shape_names(shape: Shape) -> dict[str, int]:
    """A block's input shape as names its expressions can use."""
    if len(shape) == 3:
        return dict(zip(SHAPE_NAMES, shape))
    return {"in_features": shape[0]}


def require(args: YMap, key: str, kind: str, mark: Mark, path: str) -> None:
    if key not in args:
        raise SpecError(f"{kind} needs {key!r}", mark, path)


def claim_all(seen: dict[str, Mark], node: Node, prefix: str) -> None:
    """Claim a node's name, or for an inline one the names its children take here."""
    if not node.inline:
        _claim(seen, node, prefix)
        return
    for child in written(node):
        claim_all(seen, child, prefix)


def slots(node: Node, inline: bool | None = None) -> int:
    """How many names a node takes in its parent's list: 1, or an inline node's children's."""
    if not (node.inline if inline is None else inline):
        return 1
    return sum(slots(child) for child in written(node))


def _claim(seen: dict[str, Mark], node: Node, prefix: str) -> None:
    if node.name in seen:
        where = f" in {prefix}" if prefix else ""
        raise SpecError(f"name {node.name!r} is used twice{where} (first at line "
                        f"{seen[node.name].line})", node.mark, node.path)
    seen[node.name] = node.mark
