"""Open Inference Protocol (V2) tensors <-> columns, in JSON and in the binary tensor data
extension that Triton's clients use by default.

A request is JSON, optionally followed by raw tensor bytes: the header
`Inference-Header-Content-Length` says where the JSON ends, and each binary input carries
`parameters.binary_data_size`. BYTES elements are 4-byte little-endian lengths followed by the
bytes; numbers are little-endian in their datatype's width.
"""

import struct
from itertools import chain

import numpy as np
import orjson

from app.protocols.styles import ProtocolError

NUMERIC = {
    "FP64": "<f8",
    "FP32": "<f4",
    "FP16": "<f2",
    "INT64": "<i8",
    "INT32": "<i4",
    "INT16": "<i2",
    "INT8": "<i1",
    "UINT64": "<u8",
    "UINT32": "<u4",
    "UINT16": "<u2",
    "UINT8": "<u1",
}
HEADER = "inference-header-content-length"


def bad(message: str, status: int = 400) -> ProtocolError:
    return ProtocolError(status, message)


def split_body(raw: bytes, header_length: str | None) -> tuple[dict, bytes]:
    """The request's JSON and the binary data after it."""
    end = len(raw)
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(raw):
            raise bad(f"{HEADER} {header_length!r} does not fit a body of {len(raw)} bytes")
        end = int(header_length)
    try:
        request = orjson.loads(raw[:end])
    except orjson.JSONDecodeError as exc:
        raise bad(f"the inference request is not valid JSON: {exc}") from exc
    if not isinstance(request, dict) or not isinstance(request.get("inputs"), list):
        raise bad("the inference request must be an object with a list of 'inputs'")
    return request, raw[end:]


def input_columns(request: dict, binary: bytes) -> dict[str, list]:
    """One column per input tensor, each of shape [n] or [n, 1]."""
    columns, offset = {}, 0
    for tensor in request["inputs"]:
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise bad("each input must be an object with a 'name'")
        name = tensor["name"]
        if name in columns:
            raise bad(f"input {name!r} is given twice")
        size = (tensor.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise bad(f"input {name!r}: binary_data_size {size!r} runs past the body")
            values = from_binary(tensor, binary[offset : offset + size])
            offset += size
        else:
            values = from_json(tensor)
        columns[name] = values
    return columns


def _rows(tensor: dict) -> int:
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise bad(f"input {tensor['name']!r}: shape must be a list of sizes")
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise bad(f"input {tensor['name']!r}: shape must be [n] or [n, 1], got {shape}")
    return shape[0]


def from_json(tensor: dict) -> list:
    data, n = tensor.get("data"), _rows(tensor)
    if not isinstance(data, list):
        raise bad(f"input {tensor['name']!r}: 'data' must be a list")
    if data and all(isinstance(row, list) for row in data):  # row-major nesting: [[a], [b]]
        data = list(chain.from_iterable(data))
    if len(data) != n:
        raise bad(f"input {tensor['name']!r}: {len(data)} values for shape {tensor['shape']}")
    if tensor.get("datatype") != "BYTES":
        return data
    return [v.decode() if isinstance(v, bytes) else v for v in data]


def from_binary(tensor: dict, raw: bytes) -> list | np.ndarray:
    n, datatype = _rows(tensor), tensor.get("datatype")
    if datatype == "BYTES":
        return _bytes_elements(tensor["name"], raw, n)
    if datatype not in NUMERIC:
        raise bad(f"input {tensor['name']!r}: datatype {datatype!r} is not supported")
    dtype = np.dtype(NUMERIC[datatype])
    if len(raw) != n * dtype.itemsize:
        raise bad(f"input {tensor['name']!r}: {len(raw)} bytes for {n} {datatype} values")
    return np.frombuffer(raw, dtype=dtype)


def _bytes_elements(name: str, raw: bytes, n: int) -> list[str]:
    out, at = [], 0
    for _ in range(n):
        if at + 4 > len(raw):
            raise bad(f"input {name!r}: BYTES data ends before its {n} elements")
        (size,) = struct.unpack_from("<I", raw, at)
        try:
            out.append(raw[at + 4 : at + 4 + size].decode())
        except UnicodeDecodeError as exc:
            raise bad(f"input {name!r}: element {len(out)} is not UTF-8") from exc
        at += 4 + size
    if at != len(raw):
        raise bad(f"input {name!r}: {len(raw) - at} bytes left after {n} BYTES elements")
    return out


def wanted_outputs(request: dict, available: tuple[str, ...]) -> list[tuple[str, bool]]:
    """[(output name, as binary)]: those the request names, else all of them."""
    binary_default = bool((request.get("parameters") or {}).get("binary_data_output", False))
    asked = request.get("outputs")
    if asked is None:
        return [(name, binary_default) for name in available]
    if not isinstance(asked, list) or not all(isinstance(o, dict) for o in asked):
        raise bad("'outputs' must be a list of objects")
    out = []
    for o in asked:
        if o.get("name") not in available:
            raise bad(f"output {o.get('name')!r} is not one of {', '.join(available)}")
        binary = (o.get("parameters") or {}).get("binary_data", binary_default)
        out.append((o["name"], bool(binary)))
    return out


def encode_response(head: dict, outputs: list[tuple[str, str, list, object, bool]]):
    """(body, headers): JSON, followed by binary data for the outputs that asked for it.
    `outputs`: (name, datatype, shape, values: list[str] | np.ndarray, binary)."""
    tensors, blobs = [], []
    for name, datatype, shape, values, binary in outputs:
        tensor = {"name": name, "datatype": datatype, "shape": shape}
        if binary:
            blob = to_binary(datatype, values)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = values
        tensors.append(tensor)
    body = orjson.dumps({**head, "outputs": tensors}, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return body, {}
    headers = {"Inference-Header-Content-Length": str(len(body))}
    return body + b"".join(blobs), headers


def to_binary(datatype: str, values) -> bytes:
    if datatype == "BYTES":
        return b"".join(struct.pack("<I", len(b)) + b for b in (v.encode() for v in values))
    return np.ascontiguousarray(values, dtype=NUMERIC[datatype]).tobytes()
