#!/usr/bin/env python3
"""Interoperability check for minidl's safetensors files, run by
tests/io/safetensors_test.cpp (SafetensorsInterop.*).

  safetensors_interop.py check FILE   FILE was written by minidl from the tensors in
                                      MINIDL_TENSORS: check its layout and values.
  safetensors_interop.py write DIR    write DIR/python_plain.safetensors (and, when the
                                      `safetensors` package imports,
                                      DIR/python_reference.safetensors) holding
                                      PYTHON_TENSORS, for minidl to read back.

With the Hugging Face `safetensors` package importable, files are also read and
written through it (safetensors.deserialize / safetensors.serialize, which need no
numpy), and minidl's file must equal the reference serializer's bytes. Without it,
a reader and writer made here from the format's rules (json + struct, no numpy)
do the work. The first line of output names the path taken. Exit status 0 means
every check passed; failures say what differed.

The tensor sets below are duplicated in safetensors_test.cpp: keep them in sync.
"""

import json
import math
import os
import struct
import sys

MAX_HEADER = 100_000_000
FMT = {"F32": "f", "I32": "i"}
NUMPY_NAME = {"F32": "float32", "I32": "int32"}

# (name, dtype, shape, values). minidl writes these in save order (given shuffled).
MINIDL_TENSORS = [
    # 2^-27, the smallest normal float and the largest: exact in float32 and double.
    ("weight", "F32", [2, 3], [0.5, -1.25, 2.0**-27, 1.1754943508222875e-38, -0.0,
                               3.4028234663852886e38]),
    ("bias", "F32", [3], [1.0, 2.0, 3.0]),
    ("step", "I32", [], [42]),
    ("labels", "I32", [4], [-2147483648, -1, 0, 2147483647]),
    ("empty", "F32", [0, 4], []),
    ("big.inf", "F32", [1, 1, 2], [math.inf, -math.inf]),
]
MINIDL_METADATA = {"format": 'minidl "test" \u00fc\u2713'}

# What minidl reads back from the files written here.
PYTHON_TENSORS = [
    ("x", "F32", [2, 2], [1.5, -2.0, 0.25, 1.0e30]),
    ("idx", "I32", [3], [7, -8, 9]),
    ("scalar", "F32", [], [2.5]),
    ("nothing", "I32", [0], []),
    ("z/last", "F32", [1], [-7.0]),
]
PYTHON_METADATA = {"source": "python", "note": "\u00e4\u00f6 \"quoted\""}


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def pack(dtype, values):
    return struct.pack("<%d%s" % (len(values), FMT[dtype]), *values)


def unpack(dtype, data):
    return list(struct.unpack("<%d%s" % (len(data) // 4, FMT[dtype]), data))


def reference_order(tensors):
    # The reference writer: descending dtype (F32 after I32 in its enum, so F32
    # first), then name, compared as bytes.
    return sorted(tensors, key=lambda t: (0 if t[1] == "F32" else 1, t[0].encode("utf-8")))


def reference_bytes(tensors, metadata):
    """What the reference serializer writes: compact JSON, "__metadata__" first,
    entries in data order with keys dtype, shape, data_offsets, spaces padding
    the header to 8-byte alignment."""
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    data = b""
    for name, dtype, shape, values in reference_order(tensors):
        blob = pack(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            fail("duplicate key %r in the header" % key)
        seen[key] = value
    return seen


def parse_plain(blob):
    """Reads a safetensors file by the reference's rules; returns (tensors by name
    as (dtype, shape, data), metadata, header length)."""
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER or 8 + n > len(blob):
        fail("header length %d invalid for a %d-byte file" % (n, len(blob)))
    header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=no_duplicates)
    metadata = header.pop("__metadata__", {})
    data = blob[8 + n:]
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    pos = 0
    tensors = {}
    for name, info in entries:
        begin, end = info["data_offsets"]
        if begin != pos or end < begin:
            fail("tensor %r: offsets [%d, %d] do not follow %d" % (name, begin, end, pos))
        count = 1
        for d in info["shape"]:
            count *= d
        if info["dtype"] not in FMT or end - begin != 4 * count:
            fail("tensor %r: dtype %s shape %s vs %d bytes" % (name, info["dtype"], info["shape"],
                                                            end - begin))
        tensors[name] = (info["dtype"], info["shape"], data[begin:end])
        pos = end
    if pos != len(data):
        fail("tensors cover %d of %d data bytes" % (pos, len(data)))
    return tensors, metadata, n


def same_bits(dtype, got, want):
    return pack(dtype, got) == pack(dtype, want)


def check(path):
    with open(path, "rb") as f:
        blob = f.read()
    tensors, metadata, n = parse_plain(blob)
    if (8 + n) % 8 != 0:
        fail("data section starts at %d, not 8-byte aligned" % (8 + n))
    if metadata != MINIDL_METADATA:
        fail("metadata %r != %r" % (metadata, MINIDL_METADATA))
    if sorted(tensors) != sorted(t[0] for t in MINIDL_TENSORS):
        fail("tensor names %r" % sorted(tensors))
    for name, dtype, shape, values in MINIDL_TENSORS:
        got_dtype, got_shape, data = tensors[name]
        if got_dtype != dtype or got_shape != shape:
            fail("%s: %s %s, expected %s %s" % (name, got_dtype, got_shape, dtype, shape))
        if not same_bits(dtype, unpack(dtype, data), values):
            fail("%s: values %r, expected %r" % (name, unpack(dtype, data), values))
    expected = reference_bytes(MINIDL_TENSORS, MINIDL_METADATA)
    if blob != expected:
        fail("bytes differ from the reference layout:\n  got      %r\n  expected %r"
             % (blob, expected))
    print("plain reader: %d tensors, header %d bytes, layout identical to the reference rules"
          % (len(tensors), n))

    if st is not None:
        flat = dict(st.deserialize(blob))
        for name, dtype, shape, values in MINIDL_TENSORS:
            view = flat[name]
            if view["dtype"] != dtype or list(view["shape"]) != shape:
                fail("safetensors.deserialize: %s is %s %s" % (name, view["dtype"], view["shape"]))
            if not same_bits(dtype, unpack(dtype, bytes(view["data"])), values):
                fail("safetensors.deserialize: %s values differ" % name)
        ref = bytes(st.serialize(
            {name: {"dtype": NUMPY_NAME[dtype], "shape": shape, "data": pack(dtype, values)}
             for name, dtype, shape, values in MINIDL_TENSORS},
            metadata=MINIDL_METADATA))
        if ref != blob:
            fail("minidl's file differs from safetensors.serialize's bytes")
        print("safetensors.deserialize read it; safetensors.serialize writes the same bytes")


def write(directory):
    # Deliberately unlike the reference writer: the given order (I32 before F32,
    # names unsorted), ASCII escapes, spaces after separators, no alignment padding.
    header = {}
    data = b""
    for name, dtype, shape, values in PYTHON_TENSORS:
        blob = pack(dtype, values)
        header[name] = {"shape": shape, "data_offsets": [len(data), len(data) + len(blob)],
                        "dtype": dtype}
        data += blob
    header["__metadata__"] = PYTHON_METADATA
    text = json.dumps(header, ensure_ascii=True).encode("ascii")
    plain = os.path.join(directory, "python_plain.safetensors")
    with open(plain, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    print("wrote " + plain)
    if st is not None:
        reference = os.path.join(directory, "python_reference.safetensors")
        st.serialize_file(
            {name: {"dtype": NUMPY_NAME[dtype], "shape": shape, "data": pack(dtype, values)}
             for name, dtype, shape, values in PYTHON_TENSORS},
            reference, metadata=PYTHON_METADATA)
        print("wrote " + reference)


try:
    import safetensors as st  # noqa: E402

    st.serialize, st.deserialize, st.serialize_file  # pylint: disable=pointless-statement
except (ImportError, AttributeError):
    st = None


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "write"):
        print(__doc__)
        return 2
    print("python %s (%s); backend: %s" % (
        sys.version.split()[0], sys.executable,
        "safetensors %s + plain json/struct" % getattr(st, "__version__", "?") if st is not None
        else "plain json/struct (safetensors package not importable)"))
    if sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        write(sys.argv[2])
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
