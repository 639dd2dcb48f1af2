"""Unit tests of the wire format (worker/sandbox/protocol.py) and of the no-pickle rule.

The trusted side decodes whatever the child sends with ``decode_frame`` and ``decode_value``;
anything that is not a well-formed frame of allowed values must raise ``ProtocolError`` (never
another exception, never an object built from the child's say-so).
"""

from __future__ import annotations

import ast
import io
import json
import math
import os
import struct
import sys
import tokenize
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker.sandbox import protocol
from worker.sandbox.protocol import (
    ALLOWED_DTYPES,
    MAGIC,
    MAX_DEPTH,
    MAX_HEADER_BYTES,
    MAX_ITEMS,
    MAX_STR,
    Foreign,
    ProtocolError,
    Ref,
    decode_frame,
    decode_value,
    encode_frame,
    encode_value,
    read_frame_blocking,
)

ROOT = Path(__file__).resolve().parents[1]
BIG = 1 << 30  # max_array_bytes for tests that are not about the size cap


# --------------------------------------------------------------------------- helpers


def roundtrip(value: Any, *, allow_refs: bool = False) -> Any:
    arrays: list[np.ndarray] = []
    node = encode_value(value, arrays)
    frame = encode_frame({"value": node}, arrays)
    (n,) = struct.unpack(">Q", frame[:8])
    assert n == len(frame) - 8
    header, out = decode_frame(frame[8:], BIG)
    return decode_value(header["value"], out, allow_refs=allow_refs)


def body(header: Any, *blobs: bytes, raw_header: bytes | None = None) -> bytes:
    """A frame body (no length prefix) with an arbitrary header."""
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return MAGIC + struct.pack(">I", len(h)) + h + b"".join(blobs)


def array_body(dtype: Any, shape: Any, data: bytes) -> bytes:
    return body({"arrays": [{"dtype": dtype, "shape": shape}]}, data)


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"t": "none"}
    for _ in range(depth):
        node = {"t": "list", "items": [node]}
    return node


def same(a: Any, b: Any) -> bool:
    """Equality that treats nan as equal to nan and checks types of scalars."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "value",
    [None, True, False, 0, -7, 2**62, 2**63, -(2**63), 1.5, -0.0, 1e-300, 1e300, math.inf, -math.inf, math.nan,
     "", "plain", "h\u00e9llo \u2603 \U0001f600", "with\x00nul"],
    ids=repr,
)
def test_python_scalars_roundtrip(value: Any) -> None:
    out = roundtrip(value)
    assert same(out, value), (value, out)


def test_int_beyond_64_bits_travels_exactly() -> None:
    """A large integer arrives as itself (the checks turn one too large for a float into a clear failure,
    issue 16); one too long for JSON readers (over 12,000 bits) arrives as a Foreign "int"."""
    assert roundtrip(2**70) == 2**70 and type(roundtrip(2**70)) is int
    assert roundtrip(10**400) == 10**400
    huge = roundtrip(1 << 20000)
    assert isinstance(huge, Foreign) and huge.type == "int" and "20001 bits" in huge.note


def test_long_string_is_capped() -> None:
    out = roundtrip("a" * (MAX_STR + 50))
    assert out == "a" * MAX_STR


@pytest.mark.parametrize("dtype", sorted(ALLOWED_DTYPES))
def test_numpy_scalars_roundtrip(dtype: str) -> None:
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    values = [np.dtype(dtype).type(1)]
    if info is not None:
        values += [np.dtype(dtype).type(info.min), np.dtype(dtype).type(info.max)]
    elif dtype != "bool":
        values += [np.dtype(dtype).type(-2.5), np.dtype(dtype).type(np.nan), np.dtype(dtype).type(-np.inf)]
    else:
        values += [np.bool_(False)]
    for v in values:
        out = roundtrip(v)
        assert type(out) is type(v), (dtype, v, out)
        assert (np.isnan(out) and np.isnan(v)) if np.dtype(dtype).kind == "f" and np.isnan(v) else out == v


def test_nested_structures_roundtrip() -> None:
    value = {
        "loss": 1.25,
        "grads": {"W1": np.arange(6.0).reshape(2, 3), "b1": np.zeros(3, dtype=np.float32)},
        "history": [1, 2.5, [3, (4, "five")], ()],
        "pair": (np.float64(2.0), np.arange(4, dtype=np.int32)),
        7: None,
        (1, "k"): [True, False],
        None: {},
        2.5: [],
    }
    out = roundtrip(value)
    assert set(out) == set(value)
    assert out["loss"] == 1.25
    assert isinstance(out["history"], list) and isinstance(out["history"][2][1], tuple)
    assert out["history"] == [1, 2.5, [3, (4, "five")], ()]
    assert isinstance(out["pair"], tuple) and type(out["pair"][0]) is np.float64
    np.testing.assert_array_equal(out["grads"]["W1"], value["grads"]["W1"])
    assert out["grads"]["b1"].dtype == np.float32
    np.testing.assert_array_equal(out["pair"][1], value["pair"][1])
    assert out[(1, "k")] == [True, False] and out[None] == {} and out[7] is None and out[2.5] == []


def _sample(dtype: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    a = rng.standard_normal(shape).astype(dt)
    if a.size >= 3:
        a.flat[0], a.flat[1], a.flat[2] = np.nan, np.inf, -np.inf
    return a


@pytest.mark.parametrize("dtype", sorted(ALLOWED_DTYPES))
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (0,), (2, 0, 3), (1, 1)], ids=str)
def test_arrays_roundtrip(dtype: str, shape: tuple[int, ...]) -> None:
    a = _sample(dtype, shape, np.random.default_rng(0))
    out = roundtrip(a)
    assert type(out) is np.ndarray
    assert out.dtype == a.dtype and out.shape == a.shape
    np.testing.assert_array_equal(out, a)


def test_zero_dimensional_arrays_keep_their_shape() -> None:
    wrong = {}
    for dtype in sorted(ALLOWED_DTYPES):
        a = np.array(_sample(dtype, (1,), np.random.default_rng(1))[0])
        assert a.shape == ()
        out = roundtrip(a)
        assert type(out) is np.ndarray and out.dtype == a.dtype
        np.testing.assert_array_equal(out.reshape(()), a)
        if out.shape != ():
            wrong[dtype] = out.shape
    assert wrong == {}, f"0-d arrays arrived with other shapes: {wrong}"


def test_non_contiguous_big_endian_and_fortran_arrays_roundtrip() -> None:
    base = np.arange(24.0).reshape(4, 6)
    for a in (base.T, base[::2, ::3], np.asfortranarray(base), base.astype(">f8"), base.astype(">i4")):
        out = roundtrip(a)
        assert out.shape == a.shape and out.dtype.name == a.dtype.name
        assert out.dtype.isnative
        np.testing.assert_array_equal(out, a)


def test_decoded_arrays_are_writeable_copies() -> None:
    a = np.arange(12.0).reshape(3, 4)
    arrays: list[np.ndarray] = []
    node = encode_value(a, arrays)
    frame = bytearray(encode_frame({"value": node}, arrays)[8:])
    header, out = decode_frame(bytes(frame), BIG)
    x = decode_value(header["value"], out)
    assert x.flags.writeable and x.flags.owndata and x.base is None
    x[0, 0] = 99.0  # must not raise, must not touch anything else
    header2, out2 = decode_frame(bytes(frame), BIG)
    assert decode_value(header2["value"], out2)[0, 0] == 0.0
    # decoding from a mutable buffer: later changes to the buffer do not show through
    header3, out3 = decode_frame(frame, BIG)  # type: ignore[arg-type]
    y = decode_value(header3["value"], out3)
    frame[-8:] = b"\xff" * 8
    assert y[-1, -1] == 11.0


def test_same_array_twice_decodes_to_equal_values() -> None:
    a = np.arange(3.0)
    out = roundtrip((a, a))
    np.testing.assert_array_equal(out[0], out[1])


def test_ref_roundtrip_only_when_allowed() -> None:
    assert roundtrip(Ref("input_W"), allow_refs=True) == Ref("input_W")
    with pytest.raises(ProtocolError):
        roundtrip(Ref("input_W"))
    with pytest.raises(ProtocolError):
        decode_value({"t": "ref", "name": "x"}, [], allow_refs=False)
    with pytest.raises(ProtocolError):
        decode_value({"t": "ref", "name": 3}, [], allow_refs=True)


# --------------------------------------------------------------------------- Foreign values


class _BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class _LongRepr:
    def __repr__(self) -> str:
        return "r" * 10_000


class _FakeArray:
    """Claims to be an ndarray through __class__; encode_value must look at type() only."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return np.ndarray


class _FloatSub(float):
    def __float__(self) -> float:
        return 0.0


class _ListSub(list):
    pass


class _DictSub(dict):
    pass


def _matrix() -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix([[1.0, 2.0]])


@pytest.mark.parametrize(
    "value, type_part, note_part",
    [
        (object(), "builtins.object", ""),
        (_matrix(), "numpy.matrix", "ndarray subclass"),
        (np.ma.masked_array([1.0, 2.0]), "MaskedArray", "ndarray subclass"),
        (np.array([1, "a"], dtype=object), "numpy.ndarray", "dtype=object"),
        (np.zeros(2, dtype=complex), "numpy.ndarray", "dtype=complex128"),
        (np.zeros(2, dtype="U3"), "numpy.ndarray", "dtype=<U3"),
        (np.complex128(1 + 2j), "numpy.complex128", ""),
        (np.str_("s"), "numpy.str_", ""),
        ({1, 2}, "builtins.set", ""),
        (frozenset(), "builtins.frozenset", ""),
        (b"bytes", "builtins.bytes", ""),
        (1 + 2j, "builtins.complex", ""),
        (_FakeArray(), "_FakeArray", ""),
        (_FloatSub(1.0), "_FloatSub", ""),
        (_ListSub([1, 2]), "_ListSub", ""),
        (_DictSub(a=1), "_DictSub", ""),
        (len, "builtins.builtin_function_or_method", ""),
    ],
    ids=lambda v: type(v).__name__ if not isinstance(v, str) else v[:20],
)
def test_objects_arrive_as_foreign(value: Any, type_part: str, note_part: str) -> None:
    out = roundtrip(value)
    assert isinstance(out, Foreign), out
    assert type_part in out.type, out
    assert note_part in out.note, out
    assert len(out.repr) <= 200


def test_foreign_repr_is_capped_and_failures_are_contained() -> None:
    assert roundtrip(_BadRepr()).repr == "<repr failed>"
    out = roundtrip(_LongRepr())
    assert out.repr == "r" * 200


def test_foreign_fields_are_capped_on_decode() -> None:
    node = {"t": "object", "type": "T" * 5000, "repr": "R" * 5000, "note": "N" * 5000}
    out = decode_value(node, [])
    assert isinstance(out, Foreign)
    assert len(out.type) == len(out.repr) == len(out.note) == 200


def test_encoding_caps_depth_and_length() -> None:
    value: Any = "leaf"
    for _ in range(MAX_DEPTH + 10):
        value = [value]
    out = roundtrip(value)
    depth = 0
    while isinstance(out, list):
        out, depth = out[0], depth + 1
    assert isinstance(out, Foreign) and "nested too deeply" in out.type
    assert depth == MAX_DEPTH + 1
    long = roundtrip(list(range(MAX_ITEMS + 100)))
    assert len(long) == MAX_ITEMS
    selfref: list[Any] = []
    selfref.append(selfref)
    roundtrip(selfref)  # terminates


# --------------------------------------------------------------------------- decode_frame rejects


@pytest.mark.parametrize("dtype", ["object", "O", "float128", "complex128", "complex64", "<f8", ">f8", "f8", "S10",
                                   "U3", "V8", "datetime64", "float", "int", "", None, 5, ["float64"], {"name": "float64"},
                                   "float64 ", "FLOAT64"], ids=repr)
def test_decode_frame_rejects_dtypes_not_allowed(dtype: Any) -> None:
    with pytest.raises(ProtocolError, match="dtype"):
        decode_frame(array_body(dtype, [1], b"\x00" * 16), BIG)


@pytest.mark.parametrize(
    "shape",
    [[-1], [2, -3], [2**40], [2**39, 2**39], [3.0], [True], ["3"], [None], "3", 3, None, {"n": 3}, [1] * 33],
    ids=repr,
)
def test_decode_frame_rejects_bad_shapes(shape: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(array_body("float64", shape, b"\x00" * 8), BIG)


def test_decode_frame_accepts_a_well_formed_hand_built_frame() -> None:
    """Control for the rejection tests below: the builders make valid frames when asked to."""
    header, arrays = decode_frame(array_body("float64", [2], struct.pack("<2d", 1.5, -2.0)), BIG)
    assert arrays[0].tolist() == [1.5, -2.0]
    header, arrays = decode_frame(array_body("int16", [], struct.pack("<h", -5)), BIG)
    assert arrays[0].shape == () and int(arrays[0]) == -5


def test_decode_frame_rejects_bad_magic() -> None:
    good = array_body("float64", [1], b"\x00" * 8)
    decode_frame(good, BIG)
    for bad in (b"GRD2" + good[4:], b"grd1" + good[4:], b"\x00" * len(good), b"", b"GRD", b"GRD1\x00\x00"):
        with pytest.raises(ProtocolError):
            decode_frame(bad, BIG)


def test_decode_frame_rejects_truncation_everywhere() -> None:
    good = array_body("float64", [2, 3], np.arange(6.0).tobytes())
    decode_frame(good, BIG)
    for cut in range(len(good)):
        with pytest.raises(ProtocolError):
            decode_frame(good[:cut], BIG)


def test_decode_frame_rejects_trailing_bytes() -> None:
    good = array_body("float64", [2], b"\x00" * 16)
    with pytest.raises(ProtocolError, match="trailing"):
        decode_frame(good + b"\x00", BIG)
    with pytest.raises(ProtocolError, match="trailing"):
        decode_frame(body({"x": 1}) + b"junk", BIG)


@pytest.mark.parametrize("shape, nbytes", [([3], 16), ([3], 32), ([2, 2], 24), ([0], 8), ([], 0), ([], 16)])
def test_decode_frame_rejects_byte_count_mismatch(shape: list[int], nbytes: int) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(array_body("float64", shape, b"\x00" * nbytes), BIG)


def test_decode_frame_enforces_max_array_bytes_in_total() -> None:
    data = b"\x00" * 400  # 50 float64
    frame = body({"arrays": [{"dtype": "float64", "shape": [50]}] * 2}, data, data)
    assert len(decode_frame(frame, 800)[1]) == 2
    with pytest.raises(ProtocolError, match="too large"):
        decode_frame(frame, 799)


def test_decode_frame_rejects_header_too_large() -> None:
    h = b'{"x":' + b" " * (MAX_HEADER_BYTES - 6) + b"1}"
    assert len(h) == MAX_HEADER_BYTES + 1
    with pytest.raises(ProtocolError, match="too large"):
        decode_frame(body(None, raw_header=h), BIG)
    ok = b'{"x":' + b" " * (MAX_HEADER_BYTES - 7) + b"1}"
    assert decode_frame(body(None, raw_header=ok), BIG)[0] == {"x": 1}


def test_decode_frame_rejects_header_length_beyond_the_body() -> None:
    frame = MAGIC + struct.pack(">I", 2**32 - 1) + b"{}"
    with pytest.raises(ProtocolError):
        decode_frame(frame, BIG)


@pytest.mark.parametrize("raw", [b"[]", b"[1, 2]", b'"str"', b"3", b"null", b"true"], ids=repr)
def test_decode_frame_rejects_non_dict_header(raw: bytes) -> None:
    with pytest.raises(ProtocolError, match="not an object"):
        decode_frame(body(None, raw_header=raw), BIG)


@pytest.mark.parametrize("raw", [b"{", b"{'a': 1}", b"\xff\xfe{}", b"{\"a\": NaN", b"[" * 100_000 + b"]" * 100_000],
                         ids=["unclosed", "single-quotes", "not-utf8", "nan-unclosed", "deep"])
def test_decode_frame_rejects_non_json_header(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(body(None, raw_header=raw), BIG)


@pytest.mark.parametrize("arrays", ["x", 5, {"dtype": "float64"}, [5], [None], [["float64", [1]]],
                                   [{"dtype": "float64", "shape": [0]}] * (MAX_ITEMS + 1)],
                         ids=["str", "int", "dict", "int-item", "none-item", "list-item", "too-many"])
def test_decode_frame_rejects_bad_array_lists(arrays: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_frame(body({"arrays": arrays}), BIG)


def test_read_frame_blocking_caps_size_and_detects_eof() -> None:
    r, w = os.pipe()
    try:
        os.write(w, struct.pack(">Q", 1 << 40))
        with pytest.raises(ProtocolError, match="too large"):
            read_frame_blocking(r, 1 << 20)
        frame = encode_frame({"a": 1}, [])
        os.write(w, frame)
        header, _ = decode_frame(read_frame_blocking(r, 1 << 20), BIG)
        assert header["a"] == 1
        os.write(w, frame[:12])
        os.close(w)
        w = -1
        with pytest.raises(EOFError):
            read_frame_blocking(r, 1 << 20)
    finally:
        os.close(r)
        if w != -1:
            os.close(w)


# --------------------------------------------------------------------------- decode_value rejects


def test_decode_value_depth_limit() -> None:
    assert decode_value(nested(MAX_DEPTH + 1), []) is not None
    with pytest.raises(ProtocolError, match="deep"):
        decode_value(nested(MAX_DEPTH + 2), [])
    with pytest.raises(ProtocolError, match="deep"):
        decode_value(nested(500), [])
    deep_dict: dict[str, Any] = {"t": "none"}
    for _ in range(MAX_DEPTH + 5):
        deep_dict = {"t": "dict", "items": [[{"t": "int", "v": 1}, deep_dict]]}
    with pytest.raises(ProtocolError):
        decode_value(deep_dict, [])


@pytest.mark.parametrize(
    "node",
    [
        {"t": "pickle", "v": "gASV"},
        {"t": "eval", "v": "1+1"},
        {"t": "ndarray", "ref": 0},
        {"t": "Tuple", "items": []},
        {"t": ""},
        {"v": 1},
        {"t": 1},
        {"t": None},
        None,
        [],
        "none",
        1,
    ],
    ids=repr,
)
def test_decode_value_rejects_unknown_or_missing_tags(node: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_value(node, [np.zeros(1)])


@pytest.mark.parametrize(
    "node",
    [
        {"t": "bool", "v": 1},
        {"t": "bool", "v": "true"},
        {"t": "int", "v": 1.0},
        {"t": "int", "v": True},
        {"t": "int", "v": "1"},
        {"t": "int"},
        {"t": "float", "v": "NaN"},
        {"t": "float", "v": "1.5"},
        {"t": "float", "v": True},
        {"t": "float", "v": None},
        {"t": "float", "v": [1.0]},
        {"t": "str", "v": 5},
        {"t": "str"},
        {"t": "array", "ref": 1},
        {"t": "array", "ref": -1},
        {"t": "array", "ref": True},
        {"t": "array", "ref": 0.0},
        {"t": "array", "ref": "0"},
        {"t": "array"},
        {"t": "scalar", "dtype": "object", "v": 1},
        {"t": "scalar", "dtype": "float128", "v": 1.0},
        {"t": "scalar", "dtype": "complex128", "v": 1.0},
        {"t": "scalar", "dtype": None, "v": 1},
        {"t": "scalar", "dtype": "float64", "v": "1.0"},
        {"t": "scalar", "dtype": "int64", "v": "1"},
        {"t": "scalar", "dtype": "int64", "v": None},
        {"t": "scalar", "dtype": "int64", "v": [1]},
        {"t": "scalar", "dtype": "int8", "v": 1000},
        {"t": "scalar", "dtype": "uint8", "v": -1},
        {"t": "scalar", "dtype": "int64", "v": 2**64},
        {"t": "list", "items": "abc"},
        {"t": "list", "items": {"a": 1}},
        {"t": "tuple"},
        {"t": "list", "items": [{"t": "none"}] * (MAX_ITEMS + 1)},
        {"t": "list", "items": [{"t": "bogus"}]},
        {"t": "dict", "items": {"a": 1}},
        {"t": "dict", "items": [[{"t": "none"}]]},
        {"t": "dict", "items": [[{"t": "none"}, {"t": "none"}, {"t": "none"}]]},
        {"t": "dict", "items": [{"k": 1}]},
        {"t": "dict", "items": [[{"t": "none"}, {"t": "bogus"}]]},
    ],
    ids=lambda n: json.dumps(n)[:60],
)
def test_decode_value_rejects_malformed_nodes(node: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_value(node, [np.zeros(1)])


@pytest.mark.parametrize(
    "key",
    [
        {"t": "tuple", "items": [{"t": "list", "items": []}]},
        {"t": "tuple", "items": [{"t": "array", "ref": 0}]},
        {"t": "tuple", "items": [{"t": "dict", "items": []}]},
        {"t": "tuple", "items": [{"t": "tuple", "items": [{"t": "list", "items": []}]}]},
    ],
    ids=["tuple-with-list", "tuple-with-array", "tuple-with-dict", "nested-tuple-with-list"],
)
def test_decode_value_unhashable_dict_keys_never_escape_as_other_errors(key: dict[str, Any]) -> None:
    node = {"t": "dict", "items": [[key, {"t": "none"}]]}
    try:
        out = decode_value(node, [np.zeros(1)])
    except ProtocolError:
        return
    except Exception as exc:  # noqa: BLE001 - the point of the test
        pytest.fail(f"decode_value raised {type(exc).__name__}: {exc} instead of ProtocolError")
    assert len(out) == 1


def test_decode_value_unhashable_plain_keys_become_foreign() -> None:
    for key in ({"t": "list", "items": []}, {"t": "dict", "items": []}, {"t": "array", "ref": 0}):
        out = decode_value({"t": "dict", "items": [[key, {"t": "int", "v": 1}]]}, [np.zeros(1)])
        (k,) = out
        assert isinstance(k, Foreign) and out[k] == 1


def test_decode_value_accepts_what_the_rejections_are_near() -> None:
    """Controls for the rejection cases: the closest valid nodes decode."""
    arrays = [np.zeros(1)]
    assert decode_value({"t": "bool", "v": True}, arrays) is True
    assert decode_value({"t": "int", "v": 1}, arrays) == 1
    assert math.isnan(decode_value({"t": "float", "v": "nan"}, arrays))
    assert decode_value({"t": "float", "v": 1}, arrays) == 1.0
    assert decode_value({"t": "array", "ref": 0}, arrays) is arrays[0]
    assert decode_value({"t": "scalar", "dtype": "int8", "v": 127}, arrays) == np.int8(127)
    assert decode_value({"t": "scalar", "dtype": "uint64", "v": 2**64 - 1}, arrays) == np.uint64(2**64 - 1)
    assert decode_value({"t": "list", "items": [{"t": "none"}] * MAX_ITEMS}, arrays) == [None] * MAX_ITEMS
    assert decode_value({"t": "dict", "items": [[{"t": "str", "v": "a"}, {"t": "none"}]]}, arrays) == {"a": None}


# --------------------------------------------------------------------------- no pickle anywhere

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "pickletools", "dill", "cloudpickle", "shelve", "marshal",
                  "joblib", "copyreg"}
PICKLE_SERIALIZERS = {"pickle", "application/x-python-serialize"}


def pickle_uses(source: str, filename: str = "<src>") -> list[str]:
    """Every way ``source`` could (un)pickle: imports, names, allow_pickle not False, pickle serializers."""
    problems = []
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PICKLE_MODULES:
                    problems.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if (node.module or "").split(".")[0] in PICKLE_MODULES:
                problems.append(f"{filename}:{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.keyword) and node.arg == "allow_pickle":
            if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                problems.append(f"{filename}:{node.value.lineno}: allow_pickle is not False")
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in ("__import__", "import_module") and node.args and isinstance(node.args[0], ast.Constant) \
                    and str(node.args[0].value).split(".")[0] in PICKLE_MODULES:
                problems.append(f"{filename}:{node.lineno}: dynamic import of {node.args[0].value}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.strip().lower() in PICKLE_SERIALIZERS:
            problems.append(f"{filename}:{node.lineno}: {node.value!r} (a pickle serializer setting?)")
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.string in PICKLE_MODULES | {"Unpickler", "loads_pickle"}:
            problems.append(f"{filename}:{tok.start[0]}: name {tok.string}")
    return sorted(set(problems))


def test_pickle_detector_finds_pickle() -> None:
    """The scan below can fail: each of these snippets is flagged."""
    snippets = [
        "import pickle\n",
        "import cloudpickle as cp\n",
        "from pickle import loads\n",
        "import numpy as np\nnp.load('f.npy', allow_pickle=True)\n",
        "import numpy as np\nflag = True\nnp.load('f.npy', allow_pickle=flag)\n",
        "m = __import__('pickle')\n",
        "task_serializer = 'pickle'\n",
        "accept_content = ['json', 'application/x-python-serialize']\n",
        "def f(pickle):\n    return pickle.loads(b'')\n",
    ]
    for s in snippets:
        assert pickle_uses(s), s
    assert pickle_uses("import numpy as np\nnp.load('f.npy', allow_pickle=False)\n# pickle\n'''pickled'''\n") == []


def test_no_module_under_worker_or_grader_uses_pickle() -> None:
    files = sorted(p for d in ("worker", "grader") for p in (ROOT / d).rglob("*.py"))
    assert any(p.name == "protocol.py" for p in files) and any(p.name == "engine.py" for p in files)
    problems = []
    for path in files:
        problems += pickle_uses(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert problems == [], "\n".join(problems)


def test_protocol_depends_only_on_stdlib_and_numpy() -> None:
    """The child imports protocol.py by path: it must not pull in the worker package or anything else."""
    tree = ast.parse(Path(protocol.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            imported.add("." * node.level + (node.module or ""))
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    assert imported <= allowed, imported - allowed
