"""A checkpoint directory on disk: its config, generation config, and safetensors weights.

Weights are read tensor by tensor with plain file reads straight into the tensor that keeps
them (no memory map, no state dict held beside the model), so loading peaks at the model's
own bytes plus one tensor: a model built on the meta device is filled in place. Single files
(``model.safetensors``) and sharded checkpoints (``model.safetensors.index.json``) are read the
same way. Every error names the file or the tensor.
"""
from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Iterator

import torch

_ST_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
              "BOOL": torch.bool, "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}

DTYPE_NAMES = {"float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
               "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
               "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded as it is on disk; the message names the file or tensor."""


def as_dtype(dtype: torch.dtype | str | None) -> torch.dtype | None:
    """A torch dtype from a dtype or one of ``DTYPE_NAMES``; None stays None."""
    if dtype is None or dtype in DTYPE_NAMES.values():
        return dtype
    if isinstance(dtype, str) and dtype.removeprefix("torch.") in DTYPE_NAMES:
        return DTYPE_NAMES[dtype.removeprefix("torch.")]
    raise ValueError(f"dtype must be one of {sorted(DTYPE_NAMES)} or a torch floating dtype, got {dtype!r}")


def read_json(path: Path) -> dict:
    try:
        with open(path) as fh:
            doc = json.load(fh)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(doc).__name__}")
    return doc


class Checkpoint:
    """The files of one checkpoint directory (``config.json`` required)."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)
        if not self.dir.is_dir():
            raise CheckpointError(f"{self.dir}: not a directory")
        if not (self.dir / "config.json").is_file():
            raise CheckpointError(f"{self.dir / 'config.json'}: no such file (a checkpoint directory holds its "
                                  "config.json)")
        self.config = read_json(self.dir / "config.json")
        gen = self.dir / "generation_config.json"
        self.generation_config = read_json(gen) if gen.is_file() else {}
        self._index: dict[str, Path] | None = None

    # ---------------------------------------------------------------- where each tensor is
    def index(self) -> dict[str, Path]:
        """Tensor name -> the safetensors file holding it."""
        if self._index is None:
            self._index = self._build_index()
        return self._index

    def _build_index(self) -> dict[str, Path]:
        sharded = self.dir / "model.safetensors.index.json"
        if sharded.is_file():
            weight_map = read_json(sharded).get("weight_map")
            if not isinstance(weight_map, dict):
                raise CheckpointError(f"{sharded}: no weight_map")
            root = self.dir.resolve()
            for name, file in weight_map.items():
                # A shard is a file of this directory: a name that leaves it is a damaged index.
                if not isinstance(file, str) or not (self.dir / file).resolve().is_relative_to(root):
                    raise CheckpointError(f"{sharded}: weight_map[{name!r}] = {file!r} is not a file name in "
                                          f"{self.dir}")
            return {name: self.dir / file for name, file in weight_map.items()}
        single = self.dir / "model.safetensors"
        if single.is_file():
            return {name: single for name in _header(single)[0]}
        raise CheckpointError(f"{self.dir}: no model.safetensors or model.safetensors.index.json "
                              "(weights in other formats are not read)")

    def dtype(self) -> torch.dtype:
        """The floating dtype the checkpoint declares (``torch_dtype``), else that of its tensors."""
        declared = self.config.get("torch_dtype") or self.config.get("dtype")
        if isinstance(declared, str) and declared.removeprefix("torch.") in DTYPE_NAMES:
            return DTYPE_NAMES[declared.removeprefix("torch.")]
        for name, path in self.index().items():
            dt = _ST_DTYPES.get(_header(path)[0][name]["dtype"])
            if dt is not None and dt.is_floating_point:
                return dt
        return torch.float32

    # ---------------------------------------------------------------- reading
    def read(self, names: list[str]) -> Iterator[tuple[str, torch.Tensor]]:
        """(name, CPU tensor) for every name, file by file in file order; missing names raise."""
        index = self.index()
        missing = [n for n in names if n not in index]
        if missing:
            raise CheckpointError(f"{self.dir}: missing weight tensor(s) {missing[:5]}"
                                  + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
        by_file: dict[Path, list[str]] = {}
        for n in names:
            by_file.setdefault(index[n], []).append(n)
        for path, wanted in by_file.items():
            yield from _read_file(path, wanted)


def _header(path: Path) -> tuple[dict, int]:
    """(tensor entries, byte offset of the data) of a safetensors file, every entry checked to
    name a dtype, a shape and a byte range inside the file that holds exactly that shape."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) != 8:
                raise CheckpointError(f"{path}: not a safetensors file (shorter than its header length)")
            (n,) = struct.unpack("<Q", head)
            if n > 100 * 2 ** 20:
                raise CheckpointError(f"{path}: not a safetensors file (header length {n})")
            if 8 + n > size:
                raise CheckpointError(f"{path}: cut short (its header says {n} bytes, the file holds {size - 8})")
            header = json.loads(fh.read(n))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file (named by the checkpoint's index)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not a safetensors file ({exc})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: not a safetensors file (its header is a JSON {type(header).__name__})")
    header.pop("__metadata__", None)
    for name, entry in header.items():
        _check_entry(path, name, entry, size - 8 - n)
    return header, 8 + n


def _check_entry(path: Path, name: str, entry, data_size: int) -> None:
    """A header entry: ``{"dtype": str, "shape": [int >= 0], "data_offsets": [begin, end]}`` whose
    range lies in the data and holds the shape's bytes."""
    def bad(why: str) -> CheckpointError:
        return CheckpointError(f"{path}: tensor {name!r}: {why} (a damaged safetensors header)")
    if not isinstance(entry, dict):
        raise bad(f"its header entry is a {type(entry).__name__}, not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise bad(f"dtype {dtype!r}")
    ints = (lambda v, k: isinstance(v, list) and (k is None or len(v) == k)
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v))
    if not ints(shape, None):
        raise bad(f"shape {shape!r}")
    if not ints(offsets, 2) or offsets[0] > offsets[1] or offsets[1] > data_size:
        raise bad(f"byte range {offsets!r} outside the {data_size} data bytes")
    if dtype in _ST_DTYPES:
        nbytes = math.prod(shape) * _ST_DTYPES[dtype].itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise bad(f"shape {shape} {dtype} needs {nbytes} bytes, its range {offsets} holds "
                      f"{offsets[1] - offsets[0]}")


def _read_file(path: Path, names: list[str]) -> Iterator[tuple[str, torch.Tensor]]:
    header, base = _header(path)
    with open(path, "rb", buffering=0) as fh:
        for name in sorted(names, key=lambda n: header[n]["data_offsets"][0]):
            entry = header[name]
            dtype = _ST_DTYPES.get(entry.get("dtype"))
            if dtype is None:
                raise CheckpointError(f"{path}: tensor {name!r} has dtype {entry.get('dtype')!r}, which is not read")
            begin, _ = entry["data_offsets"]
            t = torch.empty(tuple(entry["shape"]), dtype=dtype)
            nbytes = t.numel() * t.element_size()
            if nbytes:
                fh.seek(base + begin)
                _read_into(fh, memoryview(t.reshape(-1).view(torch.uint8).numpy()), path, name)
            yield name, t


def _read_into(fh, view: memoryview, path: Path, name: str) -> None:
    """Fill ``view`` from ``fh`` (one read call returns at most ~2 GiB on Linux)."""
    done = 0
    while done < len(view):
        got = fh.readinto(view[done:])
        if not got:
            raise CheckpointError(f"{path}: tensor {name!r} is cut short")
        done += got
