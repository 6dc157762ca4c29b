"""Whether a local model folder or GGUF file will load, found out in milliseconds without loading it.

A model folder (sentence-transformers, cross-encoder or causal LM): `config.json` or
`modules.json` at its top; every JSON file in it parses; the Transformer modules `modules.json`
names are there; every Hugging Face model config (one with a `model_type`) has weights and a
tokenizer beside it; every safetensors file's header parses and the file is exactly as long as
the header's offsets say (a truncated download fails here). An ONNX folder (a graph `model.onnx`
or `onnx/model.onnx`, no torch weights): its JSON files parse and `tokenizer.json` is there. A GGUF file: the signature, the version,
the metadata and the tensor table parse, and the file holds every tensor the table places in it.

Each check raises ModelNotFoundError naming the file, what is wrong and the fix. `token_limit`
reads how many tokens a model folder takes, so that a setting above it fails before any stage.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corpustune.errors import ModelNotFoundError

REPAIR = "download or save the model again, or give another"
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model")
ONNX_GRAPHS = ("model.onnx", "onnx/model.onnx")
GGUF_MAGIC = b"GGUF"
GGUF_VERSIONS = (2, 3)  # what llama.cpp reads; version 1 files were retired in 2023
GGUF_ALIGNMENT = 32  # the default of `general.alignment`
# GGUF metadata value types (gguf.h `gguf_type`): fixed sizes in bytes; 8 = string, 9 = array
GGUF_SCALAR_BYTES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
GGUF_STRING, GGUF_ARRAY = 8, 9
# ggml tensor types (ggml.h `ggml_type`) -> (values per block, bytes per block); a type not
# listed here is checked by its offset alone
GGML_BLOCKS = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110), 22: (256, 82),
    23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2),
}


def _damaged(path: Path, what: str) -> ModelNotFoundError:
    return ModelNotFoundError(f"{path}: {what}; the model is damaged or incomplete: {REPAIR}")


def check_model_folder(folder: Path, needs: str, *, weights: bool = True) -> None:
    """Raise ModelNotFoundError unless `folder` looks like a complete model folder (see the module
    docstring; without `weights`, a model config needs only its tokenizer beside it); `needs`
    says what the caller needs, for the message when it is no model at all."""
    if any((folder / graph).is_file() for graph in ONNX_GRAPHS) and not any((folder / w).exists() for w in WEIGHTS):
        _check_onnx_folder(folder)
        return
    if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
        raise ModelNotFoundError(f"{folder}: is not a model folder (it has neither config.json nor modules.json), "
                                 f"but this needs {needs}; give the folder that holds the model's config.json")
    parsed = {path: _json(path) for path in _files(folder, ".json")}
    modules = parsed.get(folder / "modules.json")
    if modules is not None:
        _check_modules(folder, modules)
    for path, config in parsed.items():
        if path.name == "config.json" and isinstance(config, dict) and "model_type" in config:
            _check_transformer(path.parent, weights)
    if not weights:
        return
    tensors = list(_files(folder, ".safetensors"))
    if not tensors and next(_files(folder, ".bin"), None) is None:
        raise _damaged(folder, "holds no weights (no .safetensors or .bin file)")
    for path in tensors:
        check_safetensors(path)


def _check_onnx_folder(folder: Path) -> None:
    """An ONNX folder as the ONNX teachers read it: JSON files that parse and a `tokenizer.json`
    (the graph itself is parsed when the teacher loads it)."""
    for path in _files(folder, ".json"):
        _json(path)
    if not (folder / "tokenizer.json").is_file():
        raise _damaged(folder, "holds an ONNX graph but no tokenizer.json")


def _files(folder: Path, suffix: str) -> Iterator[Path]:
    """Files of `folder` and its subfolders ending in `suffix`, hidden ones left out."""
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        yield from (Path(root) / name for name in sorted(names) if name.endswith(suffix) and not name.startswith("."))


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = f" (line {error.lineno}, column {error.colno})" if isinstance(error, json.JSONDecodeError) else ""
        raise _damaged(path, f"is not valid JSON{where}") from None


def _check_modules(folder: Path, modules: Any) -> None:
    """Every Transformer module sentence-transformers' `modules.json` names has its folder (modules
    without files, such as Normalize, may have none)."""
    if not isinstance(modules, list) or not all(isinstance(m, dict) and isinstance(m.get("path"), str)
                                                for m in modules):
        raise _damaged(folder / "modules.json", "is not a list of modules with a path each")
    for module in modules:
        if str(module.get("type", "")).endswith("Transformer") and not (folder / module["path"]).is_dir():
            raise _damaged(folder / "modules.json", f"names module folder {module['path']!r}, which is missing")


def _check_transformer(folder: Path, weights: bool) -> None:
    """A Hugging Face model folder has a tokenizer and (when `weights`) its weights, every file of a
    sharded index."""
    found = [folder / name for name in WEIGHTS if (folder / name).is_file()] if weights else []
    if weights and not found:
        raise _damaged(folder, f"has a config.json but no weights ({' or '.join(WEIGHTS[::2])})")
    for path in found:
        if path.name.endswith(".index.json"):
            index = _json(path)
            shards = index.get("weight_map", {}) if isinstance(index, dict) else {}
            missing = sorted({shard for shard in shards.values() if not (folder / shard).is_file()})
            if missing:
                raise _damaged(path, f"names weight files that are missing ({', '.join(missing[:3])})")
        elif path.suffix == ".bin":
            _check_pickle(path)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise _damaged(folder, f"has no tokenizer ({', '.join(TOKENIZER_FILES)})")


def _check_pickle(path: Path) -> None:
    """A PyTorch weights file: a zip archive (torch.save since 1.6; its directory is at the end, so
    a truncated file has none) or a legacy pickle (which starts with the protocol byte)."""
    if zipfile.is_zipfile(path):
        return
    with open(path, "rb") as handle:
        if handle.read(1) != b"\x80":
            raise _damaged(path, "is neither a PyTorch zip archive nor a pickle (truncated?)")


def check_safetensors(path: Path) -> None:
    """The header parses and the file is as long as its tensors' offsets say (safetensors refuses
    any other length when it opens the file)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if not 0 < length <= size - 8:
            raise _damaged(path, f"is {size:,} bytes, too short for the safetensors header it announces")
        try:
            header = json.loads(handle.read(length))
            ends = [entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"]
        except (UnicodeDecodeError, json.JSONDecodeError, AttributeError, KeyError, IndexError, TypeError):
            raise _damaged(path, "has a safetensors header that does not parse") from None
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        raise _damaged(path, f"is {size:,} bytes, but its safetensors header places tensors up to byte {expected:,}")


class _Truncated(Exception):
    """A read past the end of the file."""


class _Reader:
    """Little-endian reads from a buffer, raising _Truncated at its end."""

    def __init__(self, buffer) -> None:
        self.buffer, self.position = buffer, 0

    def skip(self, count: int) -> None:
        """Move past `count` bytes without copying them (a vocabulary holds ~10^5 strings)."""
        if count < 0 or self.position + count > len(self.buffer):
            raise _Truncated
        self.position += count

    def take(self, count: int) -> bytes:
        self.skip(count)
        return self.buffer[self.position - count:self.position]

    def unsigned(self, size: int) -> int:
        return int.from_bytes(self.take(size), "little")

    def string(self) -> bytes:
        return self.take(self.unsigned(8))


def check_gguf(path: Path, needs: str) -> None:
    """The GGUF signature, version, metadata and tensor table parse, and the file is long enough
    for every tensor in the table; `needs` says what the caller needs, for a file that is not GGUF."""
    with open(path, "rb") as handle:
        if handle.read(len(GGUF_MAGIC)) != GGUF_MAGIC:
            raise ModelNotFoundError(f"{path}: is not a GGUF file (it does not start with the GGUF signature), but "
                                     f"this needs {needs}; give a .gguf file (convert a Hugging Face model with "
                                     f"llama.cpp's convert_hf_to_gguf.py)")
        try:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                end = _gguf_extent(path, _Reader(buffer))
        except _Truncated:
            raise _damaged(path, "ends inside its GGUF header (truncated)") from None
    size = path.stat().st_size
    if size < end:
        raise _damaged(path, f"is {size:,} bytes, but its GGUF tensor table needs at least {end:,} (truncated)")


def _gguf_extent(path: Path, reader: _Reader) -> int:
    """The byte where the last tensor of the GGUF file read by `reader` ends (header and table parsed)."""
    reader.take(len(GGUF_MAGIC))
    version = reader.unsigned(4)
    if version not in GGUF_VERSIONS:
        raise _damaged(path, f"is GGUF version {version}, which llama.cpp does not read (it reads "
                       f"{' and '.join(map(str, GGUF_VERSIONS))})")
    tensors, entries = reader.unsigned(8), reader.unsigned(8)
    alignment = GGUF_ALIGNMENT
    for _ in range(entries):
        key = reader.string()
        kind = reader.unsigned(4)
        if key == b"general.alignment" and kind == 4:
            alignment = reader.unsigned(4) or GGUF_ALIGNMENT
        else:
            _skip_value(path, reader, kind)
    extents = []
    for _ in range(tensors):
        reader.skip(reader.unsigned(8))  # the tensor name
        dimensions = reader.unsigned(4)
        shape = struct.unpack(f"<{dimensions}Q", reader.take(8 * dimensions))
        kind, offset = reader.unsigned(4), reader.unsigned(8)
        values = 1
        for length in shape:
            values *= length
        per_block, block_bytes = GGML_BLOCKS.get(kind, (1, 0))
        extents.append(offset + values // per_block * block_bytes)
    data_start = -(-reader.position // alignment) * alignment
    return data_start + max(extents, default=0)


def _skip_value(path: Path, reader: _Reader, kind: int) -> None:
    if kind in GGUF_SCALAR_BYTES:
        reader.skip(GGUF_SCALAR_BYTES[kind])
    elif kind == GGUF_STRING:
        reader.skip(reader.unsigned(8))
    elif kind == GGUF_ARRAY:
        element, count = reader.unsigned(4), reader.unsigned(8)
        if element in GGUF_SCALAR_BYTES:
            reader.skip(GGUF_SCALAR_BYTES[element] * count)
        else:
            for _ in range(count):
                _skip_value(path, reader, element)
    else:
        raise _damaged(path, f"has a GGUF metadata value of unknown type {kind} at byte {reader.position - 4}")


def token_limit(folder: Path) -> int | None:
    """The most tokens the model in `folder` takes per text, as sentence-transformers caps it: the
    smaller of the config's `max_position_embeddings` and the tokenizer's `model_max_length` (a
    RoBERTa-style config counts 2 positions more than the model takes; its tokenizer says the
    real limit); None when no config says."""
    configs = [path for path in _files(folder, "config.json") if path.name == "config.json"]
    for path in configs:
        config = _json(path)
        if not isinstance(config, dict) or not isinstance(config.get("max_position_embeddings"), int):
            continue
        limit = config["max_position_embeddings"]
        settings = path.parent / "tokenizer_config.json"
        tokenizer = _json(settings) if settings.is_file() else {}
        declared = tokenizer.get("model_max_length") if isinstance(tokenizer, dict) else None
        if isinstance(declared, int) and 0 < declared < limit:
            limit = declared
        return limit
    return None
