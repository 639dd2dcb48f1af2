"""The wire format between the trusted grader and the sandboxed child.

A frame is ``u64 length`` followed by ``MAGIC``, ``u32 header length``, a JSON
header and the raw bytes of zero or more arrays, in the order the header's
``arrays`` list describes them (dtype name and shape, C order, little endian).

Values travel as a tagged JSON tree (``{"t": "float", "v": 1.5}``, ``{"t":
"array", "ref": 0}``, ...). Nothing is pickled or evaluated: the trusted side
decodes with :func:`decode_value`, which accepts only the tags below, plain
arrays of the dtypes in :data:`ALLOWED_DTYPES` and bounded sizes; anything else
raises :class:`ProtocolError`.

This module is imported by the child too (it carries no secrets), so it must
depend on nothing but the standard library and numpy.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

MAGIC = b"GRD1"
_LEN = struct.Struct(">Q")
_HDR = struct.Struct(">I")

MAX_HEADER_BYTES = 4 << 20
MAX_DEPTH = 16
MAX_ITEMS = 10_000
MAX_STR = 20_000

ALLOWED_DTYPES = frozenset(
    {
        "float64", "float32", "float16",
        "int64", "int32", "int16", "int8",
        "uint64", "uint32", "uint16", "uint8",
        "bool",
    }
)


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed frame or value."""


@dataclass(frozen=True)
class Foreign:
    """A value the child could not send as plain data (an object, a subclass).

    Only its type name and a capped ``repr`` made by the child arrive; the
    checks turn it into a message ("returned a numpy.matrix, expected ...").
    """

    type: str
    repr: str = ""
    note: str = ""

    def __str__(self) -> str:
        return self.type


@dataclass(frozen=True)
class Ref:
    """A name for a value stored in the child with ``put`` (used in call args)."""

    name: str


# --------------------------------------------------------------------------- frames


def encode_frame(header: dict[str, Any], arrays: list[np.ndarray]) -> bytes:
    specs = []
    blobs = []
    for a in arrays:
        shape = list(a.shape)  # np.ascontiguousarray would turn a 0-d array into shape (1,)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("<"))
        specs.append({"dtype": a.dtype.name, "shape": shape})
        # The array's own bytes in C order (a copy only when it is not C-contiguous): the frame is assembled
        # with a single copy, which matters for CIFAR-sized inputs (12 MB).
        if a.dtype.kind in "biufc" and not a.dtype.fields:
            blobs.append(np.ascontiguousarray(a).reshape(-1).view(np.uint8))
        else:  # anything else is refused by the decoder; sent as it always was, so the refusal says why
            blobs.append(a.tobytes(order="C"))
    header = dict(header, arrays=specs)
    hjson = json.dumps(header, allow_nan=False, separators=(",", ":")).encode()
    size = len(MAGIC) + _HDR.size + len(hjson) + sum(memoryview(b).nbytes for b in blobs)
    return b"".join([_LEN.pack(size), MAGIC, _HDR.pack(len(hjson)), hjson, *blobs])


def decode_frame(body: bytes, max_array_bytes: int) -> tuple[dict[str, Any], list[np.ndarray]]:
    """Parse a frame body (without its length prefix), checking every size."""
    if len(body) < len(MAGIC) + _HDR.size or body[: len(MAGIC)] != MAGIC:
        raise ProtocolError("bad frame magic")
    pos = len(MAGIC)
    (hlen,) = _HDR.unpack_from(body, pos)
    pos += _HDR.size
    if hlen > MAX_HEADER_BYTES or pos + hlen > len(body):
        raise ProtocolError("frame header too large or truncated")
    try:
        header = json.loads(body[pos : pos + hlen].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame header is not JSON: {exc}") from None
    pos += hlen
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    specs = header.get("arrays", [])
    if not isinstance(specs, list) or len(specs) > MAX_ITEMS:
        raise ProtocolError("bad array list")
    arrays = []
    total = 0
    for spec in specs:
        if not isinstance(spec, dict):
            raise ProtocolError("bad array spec")
        dtype_name, shape = spec.get("dtype"), spec.get("shape")
        if not isinstance(dtype_name, str) or dtype_name not in ALLOWED_DTYPES:
            raise ProtocolError(f"array dtype {str(dtype_name)[:40]!r} is not allowed")
        if (
            not isinstance(shape, list)
            or len(shape) > 32
            or not all(type(d) is int and 0 <= d < 2**40 for d in shape)
        ):
            raise ProtocolError("bad array shape")
        dtype = np.dtype(dtype_name).newbyteorder("<")
        nbytes = math.prod(shape) * dtype.itemsize
        total += nbytes
        if total > max_array_bytes or pos + nbytes > len(body):
            raise ProtocolError("array data too large or truncated")
        arr = np.frombuffer(body, dtype=dtype, count=math.prod(shape), offset=pos)
        arrays.append(arr.reshape(shape).astype(dtype.newbyteorder("="), copy=True))
        pos += nbytes
    if pos != len(body):
        raise ProtocolError("trailing bytes after the last array")
    return header, arrays


def write_frame(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int) -> bytes:
    """Blocking read of exactly ``n`` bytes (used by the child, which trusts its deadline to the parent)."""
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame_blocking(fd: int, max_bytes: int) -> bytes:
    (n,) = _LEN.unpack(read_exact(fd, _LEN.size))
    if n > max_bytes:
        raise ProtocolError("frame too large")
    return read_exact(fd, n)


LENGTH_PREFIX = _LEN

# --------------------------------------------------------------------------- values


def _float_out(x: float) -> Any:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def encode_value(value: Any, arrays: list[np.ndarray], depth: int = 0) -> dict[str, Any]:
    """Describe ``value`` as a tagged tree, appending arrays to ``arrays``.

    Used on both sides. On the child side it runs on student objects, so it
    asks nothing of them but ``type()`` and, for unknown objects, a capped
    ``repr`` wrapped in a try.
    """
    t = type(value)
    if depth > MAX_DEPTH:
        return {"t": "object", "type": "nested too deeply", "repr": ""}
    if value is None:
        return {"t": "none"}
    if t is bool:
        return {"t": "bool", "v": value}
    if t is int:
        if value.bit_length() > 12_000:  # JSON readers refuse integers of more than 4,300 digits
            return {"t": "object", "type": "int", "repr": "", "note": f"an integer of {value.bit_length()} bits"}
        return {"t": "int", "v": value}
    if t is float:
        return {"t": "float", "v": _float_out(value)}
    if t is str:
        return {"t": "str", "v": value[:MAX_STR], "len": len(value)}
    if t is Ref:
        return {"t": "ref", "name": value.name}
    if t is np.ndarray:
        if value.dtype.name in ALLOWED_DTYPES:
            arrays.append(value)
            return {"t": "array", "ref": len(arrays) - 1}
        return {"t": "object", "type": "numpy.ndarray", "note": f"dtype={value.dtype}", "repr": ""}
    if isinstance(value, np.generic) and type(value).__module__ == "numpy":
        name = np.dtype(t).name
        if name in ALLOWED_DTYPES:
            v = value.item()
            return {"t": "scalar", "dtype": name, "v": _float_out(v) if isinstance(v, float) else v}
    if t in (tuple, list):
        items = [encode_value(v, arrays, depth + 1) for v in value[:MAX_ITEMS]]
        return {"t": t.__name__, "items": items, "len": len(value)}
    if t is dict:
        pairs = []
        for k, v in list(value.items())[:MAX_ITEMS]:
            pairs.append([encode_value(k, arrays, depth + 1), encode_value(v, arrays, depth + 1)])
        return {"t": "dict", "items": pairs, "len": len(value)}
    try:
        text = repr(value)[:200]
    except BaseException:  # noqa: BLE001 - a student's __repr__ may do anything
        text = "<repr failed>"
    note = "ndarray subclass" if isinstance(value, np.ndarray) else ""
    return {"t": "object", "type": f"{t.__module__}.{t.__qualname__}"[:200], "repr": text, "note": note}


def _expect(cond: bool, what: str) -> None:
    if not cond:
        raise ProtocolError(what)


def decode_value(node: Any, arrays: list[np.ndarray], depth: int = 0, allow_refs: bool = False) -> Any:
    """Turn a tagged tree back into plain Python/numpy values, strictly."""
    _expect(depth <= MAX_DEPTH + 1, "value nested too deeply")
    _expect(isinstance(node, dict) and isinstance(node.get("t"), str), "value without a tag")
    tag = node["t"]
    if tag == "none":
        return None
    if tag == "bool":
        _expect(type(node.get("v")) is bool, "bad bool")
        return node["v"]
    if tag == "int":
        _expect(type(node.get("v")) is int, "bad int")
        return node["v"]
    if tag == "float":
        return _float_in(node.get("v"))
    if tag == "str":
        _expect(type(node.get("v")) is str, "bad str")
        return clean_text(node["v"][:MAX_STR])
    if tag == "array":
        ref = node.get("ref")
        _expect(type(ref) is int and 0 <= ref < len(arrays), "bad array reference")
        return arrays[ref]
    if tag == "scalar":
        dtype = node.get("dtype")
        _expect(dtype in ALLOWED_DTYPES, "bad scalar dtype")
        v = node.get("v")
        if dtype.startswith("float"):
            v = _float_in(v)
        _expect(type(v) in (int, float, bool), "bad scalar value")
        try:
            return np.dtype(dtype).type(v)
        except (OverflowError, ValueError):
            raise ProtocolError("scalar out of range") from None
    if tag in ("tuple", "list"):
        items = node.get("items")
        _expect(isinstance(items, list) and len(items) <= MAX_ITEMS, "bad sequence")
        out = [decode_value(v, arrays, depth + 1, allow_refs) for v in items]
        return tuple(out) if tag == "tuple" else out
    if tag == "dict":
        items = node.get("items")
        _expect(isinstance(items, list) and len(items) <= MAX_ITEMS, "bad dict")
        out_d: dict[Any, Any] = {}
        for pair in items:
            _expect(isinstance(pair, list) and len(pair) == 2, "bad dict item")
            key = decode_value(pair[0], arrays, depth + 1, allow_refs)
            try:
                hash(key)
            except TypeError:
                key = Foreign(type="unhashable key")
            out_d[key] = decode_value(pair[1], arrays, depth + 1, allow_refs)
        return out_d
    if tag == "object":
        return Foreign(
            type=clean_text(str(node.get("type", "?"))[:200]),
            repr=clean_text(str(node.get("repr", ""))[:200]),
            note=clean_text(str(node.get("note", ""))[:200]),
        )
    if tag == "ref" and allow_refs:
        _expect(type(node.get("name")) is str, "bad ref")
        return Ref(node["name"])
    raise ProtocolError(f"unknown value tag {tag[:40]!r}")


def clean_text(text: str) -> str:
    """Text from the child made safe to store and print: lone surrogates (from JSON escapes) replaced."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _float_in(v: Any) -> float:
    if v == "nan":
        return math.nan
    if v == "inf":
        return math.inf
    if v == "-inf":
        return -math.inf
    _expect(type(v) in (int, float), "bad float")
    return float(v)
