"""A bounded reader of ONNX files: protobuf's wire format decoded for the few messages an
architecture needs (model, graph, node, attribute, tensor, value info), with no code run and
no dependency.

A file is untrusted input. Every length is checked against the bytes that are there, so a
truncated or corrupt file stops with one sentence; counts of nodes, tensors, dims and
attributes are bounded; tensor data is never copied here, only located (an offset into the
file, or an external file's name, checked later by `weights`). Subgraphs (If, Loop, Scan
bodies) are skipped: such a node is an operator cnncli does not price.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_NODES = 100_000
MAX_TENSORS = 200_000
MAX_DIMS = 8
MAX_NAME = 4096
MAX_ATTRIBUTE_LIST = 100_000
MAX_FILE = 2**31  # protobuf's own limit for one message

#: TensorProto.DataType -> (numpy type name, bytes per element)
DTYPES = {1: ("float32", 4), 2: ("uint8", 1), 3: ("int8", 1), 4: ("uint16", 2),
          5: ("int16", 2), 6: ("int32", 4), 7: ("int64", 8), 9: ("bool", 1),
          10: ("float16", 2), 11: ("float64", 8), 12: ("uint32", 4), 13: ("uint64", 8)}


class BadFile(Exception):
    """The bytes are not an ONNX model this reader can take; the message says why."""


@dataclass
class Tensor:
    """An initializer or a constant: its type and dims, and where its numbers are."""

    name: str = ""
    dims: tuple[int, ...] = ()
    data_type: int = 0
    raw: tuple[int, int] | None = None  # (start, end) of raw_data in the file
    values: list[float] = field(default_factory=list)  # float/int32/int64/double_data
    external: dict[str, str] = field(default_factory=dict)  # location, offset, length

    @property
    def size(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@dataclass
class Attribute:
    name: str = ""
    type: int = 0
    f: float = 0.0
    i: int = 0
    s: bytes = b""
    t: Tensor | None = None
    floats: list[float] = field(default_factory=list)
    ints: list[int] = field(default_factory=list)
    strings: list[bytes] = field(default_factory=list)
    has_graph: bool = False

    def value(self) -> Any:
        """The attribute's value as Python: a number, text, a list, or a Tensor."""
        kind = {1: self.f, 2: self.i, 3: self.s.decode("utf-8", "replace"), 4: self.t,
                6: self.floats, 7: self.ints,
                8: [s.decode("utf-8", "replace") for s in self.strings]}
        return kind.get(self.type)


@dataclass
class Node:
    op: str = ""
    name: str = ""
    domain: str = ""
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    attributes: dict[str, Attribute] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def attr(self, name: str, default: Any = None) -> Any:
        """An attribute's value as Python, or `default` where the node has none."""
        found = self.attributes.get(name)
        return default if found is None else found.value()


@dataclass
class ValueInfo:
    name: str = ""
    elem_type: int = 0
    dims: list[int | str] | None = None  # None: no shape recorded; a str: a symbolic dim


@dataclass
class Graph:
    name: str = ""
    nodes: list[Node] = field(default_factory=list)
    initializers: dict[str, Tensor] = field(default_factory=dict)
    inputs: list[ValueInfo] = field(default_factory=list)
    outputs: list[ValueInfo] = field(default_factory=list)
    value_info: dict[str, ValueInfo] = field(default_factory=dict)


@dataclass
class Model:
    path: Path
    data: Any  # the file's bytes (an mmap): tensors' raw data are offsets into it
    ir_version: int = 0
    producer: str = ""
    producer_version: str = ""
    opsets: dict[str, int] = field(default_factory=dict)
    graph: Graph = field(default_factory=Graph)


class _Reader:
    """Fields of one message in data[start:end]: (number, wire type, value) where a
    length-delimited value is its (start, end) and a varint an int."""

    def __init__(self, data: Any, start: int, end: int):
        self.data, self.pos, self.end = data, start, end

    def varint(self) -> int:
        result = shift = 0
        data, pos = self.data, self.pos
        while True:
            if pos >= self.end:
                raise BadFile(f"it ends inside a number at byte {pos}")
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 63:
                raise BadFile(f"a number at byte {self.pos} runs past 10 bytes")
        self.pos = pos
        return result

    def __iter__(self) -> Any:
        while self.pos < self.end:
            key = self.varint()
            number, wire = key >> 3, key & 7
            if wire == 0:
                yield number, wire, self.varint()
            elif wire == 2:
                length = self.varint()
                start = self.pos
                if length > self.end - start:
                    raise BadFile(f"a field at byte {start} claims {length:,} bytes, but "
                                  f"only {self.end - start:,} follow (truncated?)")
                self.pos = start + length
                yield number, wire, (start, start + length)
            elif wire in (1, 5):
                width = 8 if wire == 1 else 4
                if self.pos + width > self.end:
                    raise BadFile(f"it ends inside a number at byte {self.pos}")
                yield number, wire, bytes(self.data[self.pos:self.pos + width])
                self.pos += width
            else:
                raise BadFile(f"byte {self.pos} starts a field of wire type {wire}, which "
                              "ONNX files do not use")


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(data: Any, span: tuple[int, int]) -> str:
    start, end = span
    if end - start > MAX_NAME:
        raise BadFile(f"a name at byte {start} is {end - start:,} bytes long "
                      f"(at most {MAX_NAME:,})")
    return bytes(data[start:end]).decode("utf-8", "replace")


def _ints(data: Any, wire: int, value: Any, into: list[int]) -> None:
    """A repeated int64 field, packed (wire 2) or not (wire 0)."""
    if wire == 0:
        into.append(_signed(value))
        return
    reader = _Reader(data, *value)
    while reader.pos < reader.end:
        into.append(_signed(reader.varint()))
        if len(into) > MAX_ATTRIBUTE_LIST:
            raise BadFile(f"a list holds more than {MAX_ATTRIBUTE_LIST:,} numbers")


def _floats(data: Any, wire: int, value: Any, fmt: str, into: list[float]) -> None:
    """A repeated float ('f') or double ('d') field, packed or not."""
    if wire != 2:
        into.append(struct.unpack("<" + fmt, value)[0])
        return
    start, end = value
    width = struct.calcsize(fmt)
    count = (end - start) // width
    if count > MAX_ATTRIBUTE_LIST:
        raise BadFile(f"a list holds more than {MAX_ATTRIBUTE_LIST:,} numbers")
    into.extend(struct.unpack(f"<{count}{fmt}", bytes(data[start:start + count * width])))


def _tensor(data: Any, span: tuple[int, int]) -> Tensor:
    tensor = Tensor()
    dims: list[int] = []
    for number, wire, value in _Reader(data, *span):
        if number == 1:
            _ints(data, wire, value, dims)
        elif number == 2:
            tensor.data_type = value
        elif number == 8:
            tensor.name = _text(data, value)
        elif number == 9:
            tensor.raw = value
        elif number == 4:
            _floats(data, wire, value, "f", tensor.values)
        elif number == 10:
            _floats(data, wire, value, "d", tensor.values)
        elif number in (5, 7, 11):
            _ints(data, wire, value, tensor.values)  # type: ignore[arg-type]
        elif number == 13:
            key, text = _pair(data, value)
            tensor.external[key] = text
    if len(dims) > MAX_DIMS or any(d < 0 for d in dims):
        raise BadFile(f"tensor {tensor.name!r} has dims {dims}: at most {MAX_DIMS}, none "
                      "negative")
    tensor.dims = tuple(dims)
    if tensor.size > 2**40:
        raise BadFile(f"tensor {tensor.name!r} claims {tensor.size:,} numbers")
    return tensor


def _pair(data: Any, span: tuple[int, int]) -> tuple[str, str]:
    key = text = ""
    for number, _, value in _Reader(data, *span):
        if number == 1:
            key = _text(data, value)
        elif number == 2:
            text = _text(data, value)
    return key, text


def _attribute(data: Any, span: tuple[int, int]) -> Attribute:
    attr = Attribute()
    for number, wire, value in _Reader(data, *span):
        if number == 1:
            attr.name = _text(data, value)
        elif number == 20:
            attr.type = value
        elif number == 2:
            attr.f = struct.unpack("<f", value)[0]
        elif number == 3:
            attr.i = _signed(value)
        elif number == 4:
            attr.s = bytes(data[value[0]:value[1]])[:MAX_NAME]
        elif number == 5:
            attr.t = _tensor(data, value)
        elif number in (6, 11):
            attr.has_graph = True  # a subgraph: not read (see the module's docstring)
        elif number == 7:
            _floats(data, wire, value, "f", attr.floats)
        elif number == 8:
            _ints(data, wire, value, attr.ints)
        elif number == 9:
            attr.strings.append(bytes(data[value[0]:value[1]])[:MAX_NAME])
    return attr


def _node(data: Any, span: tuple[int, int]) -> Node:
    node = Node()
    for number, _, value in _Reader(data, *span):
        if number == 1:
            node.inputs.append(_text(data, value))
        elif number == 2:
            node.outputs.append(_text(data, value))
        elif number == 3:
            node.name = _text(data, value)
        elif number == 4:
            node.op = _text(data, value)
        elif number == 7:
            node.domain = _text(data, value)
        elif number == 5:
            attr = _attribute(data, value)
            node.attributes[attr.name] = attr
        elif number == 9:
            key, text = _pair(data, value)
            node.metadata[key] = text
    return node


def _value_info(data: Any, span: tuple[int, int]) -> ValueInfo:
    info = ValueInfo()
    for number, _, value in _Reader(data, *span):
        if number == 1:
            info.name = _text(data, value)
        elif number == 2:
            for n2, _, tensor_type in _Reader(data, *value):
                if n2 == 1:
                    _tensor_type(data, tensor_type, info)
    return info


def _tensor_type(data: Any, span: tuple[int, int], info: ValueInfo) -> None:
    for number, _, value in _Reader(data, *span):
        if number == 1:
            info.elem_type = value
        elif number == 2:
            info.dims = []
            for n2, _, dim in _Reader(data, *value):
                if n2 != 1:
                    continue
                if len(info.dims) >= MAX_DIMS:
                    raise BadFile(f"value {info.name!r} has more than {MAX_DIMS} dims")
                size: int | str = "?"
                for n3, _, part in _Reader(data, *dim):
                    if n3 == 1:
                        size = _signed(part)
                    elif n3 == 2:
                        size = _text(data, part)
                info.dims.append(size)


def _graph(data: Any, span: tuple[int, int]) -> Graph:
    graph = Graph()
    for number, _, value in _Reader(data, *span):
        if number == 1:
            graph.nodes.append(_node(data, value))
            if len(graph.nodes) > MAX_NODES:
                raise BadFile(f"the graph has more than {MAX_NODES:,} nodes")
        elif number == 2:
            graph.name = _text(data, value)
        elif number == 5:
            tensor = _tensor(data, value)
            graph.initializers[tensor.name] = tensor
            if len(graph.initializers) > MAX_TENSORS:
                raise BadFile(f"the graph has more than {MAX_TENSORS:,} initializers")
        elif number == 11:
            graph.inputs.append(_value_info(data, value))
        elif number == 12:
            graph.outputs.append(_value_info(data, value))
        elif number == 13:
            info = _value_info(data, value)
            graph.value_info[info.name] = info
    return graph


def read(path: Path) -> Model:
    """The model in `path`, mapped (not read) into memory. Raises BadFile."""
    size = path.stat().st_size
    if size == 0:
        raise BadFile("the file is empty")
    if size >= MAX_FILE:
        raise BadFile(f"it is {size:,} bytes; an ONNX file holds at most 2 GiB (larger "
                      "models keep their weights in external data files)")
    with path.open("rb") as handle:
        data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    model = Model(path=path, data=data)
    seen_graph = False
    for number, wire, value in _Reader(data, 0, size):
        if number == 1 and wire == 0:
            model.ir_version = value
        elif number == 2 and wire == 2:
            model.producer = _text(data, value)
        elif number == 3 and wire == 2:
            model.producer_version = _text(data, value)
        elif number == 8 and wire == 2:
            domain, version = "", 0
            for n2, _, v2 in _Reader(data, *value):
                if n2 == 1:
                    domain = _text(data, v2)
                elif n2 == 2:
                    version = v2
            model.opsets[domain or "ai.onnx"] = version
        elif number == 7 and wire == 2:
            model.graph = _graph(data, value)
            seen_graph = True
    if not seen_graph or model.ir_version == 0:
        raise BadFile("it has no graph and no IR version: not an ONNX model")
    return model
