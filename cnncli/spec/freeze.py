"""`--freeze PATTERN`: keep the matching layers' parameters fixed while the rest trains.

A pattern is a path glob (`layer1.*`, `features.1?`), a path (a block and everything in it:
`layer1`), or `backbone`: every layer but the classifier, the last conv or linear layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fnmatch import fnmatchcase

from ..errors import UsageError
from .ir import LayerNode, Network, Node, Residual, written


def nodes(node: Node) -> Iterator[Node]:
    """A node and those inside it that the spec wrote (an automatic projection goes with
    its residual: it is not a layer a pattern names)."""
    yield node
    for child in written(node):
        yield from nodes(child)


def layers(node: Node) -> Iterator[LayerNode]:
    return (n for n in nodes(node) if isinstance(n, LayerNode))


def _holds(node: Node, target: Node) -> bool:
    return any(n is target for n in nodes(node))


def classifier(network: Network) -> LayerNode | None:
    """The last conv or linear layer: the one fine-tuning replaces."""
    found = [n for n in layers(network.root) if n.kind in ("linear", "conv")]
    return found[-1] if found else None


def matches(path: str, pattern: str) -> bool:
    return fnmatchcase(path, pattern) or path.startswith(pattern + ".")


def freeze(network: Network, patterns: Sequence[str]) -> list[str]:
    """Mark the layers the patterns name frozen; return their paths. A pattern that names
    no layer is an error (a typo would otherwise train everything)."""
    every = list(nodes(network.root))[1:]  # composites too: a residual's automatic
    head = classifier(network)             # projection is frozen with its residual
    frozen: list[str] = []
    for pattern in patterns:
        if pattern == "backbone":
            chosen = [n for n in every if head is None or not _holds(n, head)]
        else:
            chosen = [n for n in every if matches(n.path, pattern)]
        if not any(isinstance(n, LayerNode) for n in chosen):
            example = ", ".join([n.path for n in layers(network.root)][:4])
            raise UsageError(f"--freeze {pattern!r} names no layer of {network.name}; layer "
                             f"paths look like {example} (cnncli summary lists them), or say "
                             "backbone for all but the classifier")
        for node in chosen:
            node.frozen = True
            if isinstance(node, Residual) and node.auto and not isinstance(node.shortcut, str):
                for inner in nodes(node.shortcut):
                    inner.frozen = True
            if isinstance(node, LayerNode):
                frozen.append(node.path)
    return frozen
