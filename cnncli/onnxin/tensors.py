"""The numbers of an ONNX tensor as a numpy array: inline data, raw bytes in the file, or an
external data file that must lie in the model's own folder (a file cannot point anywhere
else: `../`, absolute paths and links that leave the folder are refused)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .proto import DTYPES, BadFile, Model, Tensor


def has_data(tensor: Tensor) -> bool:
    """Whether the file holds the tensor's numbers (a weights-stripped file does not)."""
    return bool(tensor.raw and tensor.raw[1] > tensor.raw[0]) or bool(tensor.values) \
        or bool(tensor.external) or tensor.size == 0


def array(model: Model, tensor: Tensor) -> np.ndarray:
    """The tensor's numbers, shaped by its dims. Raises BadFile."""
    if tensor.data_type not in DTYPES:
        raise BadFile(f"tensor {tensor.name!r} has data type {tensor.data_type}, which "
                      "cnncli does not read")
    dtype, width = DTYPES[tensor.data_type]
    if tensor.external:
        data = _external(model, tensor, width)
    elif tensor.raw is not None:
        data = np.frombuffer(model.data[tensor.raw[0]:tensor.raw[1]], dtype=dtype).copy()
    else:
        data = np.array(tensor.values, dtype=dtype)
    if data.size != tensor.size:
        raise BadFile(f"tensor {tensor.name!r} has dims {list(tensor.dims)} "
                      f"({tensor.size:,} numbers) but holds {data.size:,}")
    return data.reshape(tensor.dims)


def _external(model: Model, tensor: Tensor, width: int) -> np.ndarray:
    folder = model.path.resolve().parent
    location = tensor.external.get("location", "")
    target = (folder / location).resolve()
    if not location or os.path.isabs(location) or not target.is_relative_to(folder):
        raise BadFile(f"tensor {tensor.name!r} keeps its data in {location!r}, outside the "
                      f"model's folder {folder}; cnncli reads external data only beside the "
                      "model")
    offset = int(tensor.external.get("offset", 0) or 0)
    length = int(tensor.external.get("length", 0) or 0) or tensor.size * width
    if length != tensor.size * width:
        raise BadFile(f"tensor {tensor.name!r}: external length {length:,} bytes, but its "
                      f"dims need {tensor.size * width:,}")
    try:
        with Path(target).open("rb") as handle:
            handle.seek(offset)
            raw = handle.read(length)
    except OSError as exc:
        raise BadFile(f"tensor {tensor.name!r}: cannot read {location!r} ({exc.strerror})") \
            from None
    if len(raw) != length:
        raise BadFile(f"tensor {tensor.name!r}: {location!r} ends before its data does")
    return np.frombuffer(raw, dtype=DTYPES[tensor.data_type][0]).copy()
