"""safetensors read and written with the standard library and NumPy (no `safetensors` package
needed): the weights and optimizer state webgpu-dl writes, and what train.py saves for it."""
import json
import os
import struct

import numpy as np
import torch

DTYPES = {"F32": np.float32, "I64": np.int64, "I8": np.int8}


MAX_HEADER_BYTES = 100 * 1024 * 1024


def load_safetensors(path):
    """(tensors by name, metadata) of a safetensors file; a file that is not one stops with a one-line reason."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        (length,) = struct.unpack("<Q", prefix) if len(prefix) == 8 else (None,)
        # Read within limits: the header length comes from the file, so it is checked before it is read.
        if length is None or length > min(size - 8, MAX_HEADER_BYTES):
            raise SystemExit(f"{path}: not a safetensors file (its {size} bytes do not start with a header length of at most {min(max(size - 8, 0), MAX_HEADER_BYTES)})")
        try:
            header = json.loads(f.read(length))
        except ValueError as e:
            raise SystemExit(f"{path}: not a safetensors file (its header is not JSON: {e})")
        data = f.read()
    if not isinstance(header, dict):
        raise SystemExit(f"{path}: not a safetensors file (its header is not a JSON object)")
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if entry.get("dtype") not in DTYPES:
            raise SystemExit(f"{path}: tensor {name} has dtype {entry.get('dtype')}; expected one of {sorted(DTYPES)}")
        start, end = entry["data_offsets"]
        count = int(np.prod(entry["shape"], dtype=np.int64))
        if not 0 <= start <= end <= len(data) or end - start != count * np.dtype(DTYPES[entry["dtype"]]).itemsize:
            raise SystemExit(f"{path}: tensor {name}'s bytes {start}..{end} do not hold its shape {entry['shape']} within the file's {len(data)} data bytes")
        array = np.frombuffer(data[start:end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, header.get("__metadata__", {})


def save_safetensors(path, tensors, metadata):
    """Float32 tensors and string metadata, written to a temporary file and renamed into place."""
    header, offset, chunks = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, 0, []
    for name, tensor in tensors.items():
        data = tensor.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))
    os.replace(temporary, path)
