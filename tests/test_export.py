"""`corpustune export`: the exported graph embeds as the torch model does (max |difference| <= 1e-4
unquantized, cosine >= 0.999 with int8 weights), on onnxruntime and OpenVINO, with prompts."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from corpustune.cli import app
from corpustune.models.registry import PACKAGED_MODELS
from corpustune.models.resolve import missing_parts
from tests.conftest import TINY_PASSAGES
from tests.train_fixtures import one_thread  # noqa: F401  (fixture used by pytestmark)

pytest.importorskip("onnxruntime", reason="needs the export extra: pip install 'corpustune[export]'")
pytest.importorskip("onnxscript", reason="needs the export extra: pip install 'corpustune[export]'")
pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = [p.full_text() for p in TINY_PASSAGES] + ["what does aspirin do", "coffee"] + [
    " ".join(p.text for p in TINY_PASSAGES) * 3]  # longer than the model's max length


@pytest.fixture(scope="module")
def prompted_model(tiny_biencoder_path, tmp_path_factory) -> Path:
    """The tiny bi-encoder with query and document prompts, as a trained student has them."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_biencoder_path), device="cpu")
    model.prompts = {"query": "query: ", "document": "passage: "}
    folder = tmp_path_factory.mktemp("prompted") / "model"
    model.save(str(folder))
    return folder


def torch_embeddings(folder: Path, texts: list[str], prompt_name: str | None = None) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(folder), device="cpu")
    return model.encode(texts, prompt_name=prompt_name, prompt=None if prompt_name else "", convert_to_numpy=True)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("form", ["onnx", "openvino"])
def test_unquantized_export_agrees_with_torch_within_1e4(prompted_model, tmp_path, form):
    if form == "openvino":
        pytest.importorskip("openvino", reason="needs the export extra: pip install 'corpustune[export]'")
    from corpustune.export import export_model
    from corpustune.export.runtime import ExportedEncoder

    result = export_model(prompted_model, tmp_path / form, form=form)
    assert result.max_abs_diff <= 1e-4 and result.min_cosine >= 0.9999
    encoder = ExportedEncoder(result.folder)
    for prompt_name in (None, "query", "document"):
        exported = encoder.encode(TEXTS, prompt_name=prompt_name, tokens_per_batch=64)  # several batches
        reference = torch_embeddings(prompted_model, TEXTS, prompt_name)
        assert exported.shape == reference.shape and exported.dtype == np.float32
        assert np.abs(exported - reference).max() <= 1e-4, prompt_name
    info = json.loads((result.folder / "export.json").read_text())
    assert info["format"] == form and info["prompts"] == {"query": "query: ", "document": "passage: "}
    assert not (result.folder / "model.safetensors").exists()  # the graph replaces the torch weights


def test_int8_export_of_minilm_keeps_cosine_above_0_999(tmp_path):
    if missing_parts(PACKAGED_MODELS["minilm"]):
        pytest.skip(f"packaged MiniLM not installed: {PACKAGED_MODELS['minilm'].pip_command}")
    from corpustune.export import export_model
    from corpustune.export.runtime import ExportedEncoder
    from corpustune.models import resolve_model

    source = Path(resolve_model("minilm"))
    result = export_model(source, tmp_path / "int8", quantize="int8")
    exported = ExportedEncoder(result.folder).encode(TEXTS)
    reference = torch_embeddings(source, TEXTS)
    assert cosines(exported, reference).min() >= 0.999 and result.min_cosine >= 0.999
    graph = result.folder / "onnx" / "model.onnx"
    assert graph.stat().st_size < 0.75 * (source / "model.safetensors").stat().st_size  # 8-bit weights


def test_export_command_writes_beside_the_run_and_leaves_the_published_model_alone(prompted_model, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(prompted_model, run / "model")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (run / "model").rglob("*") if p.is_file()}
    result = CliRunner().invoke(app, ["export", str(run), "--quantize", "int8"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert f"to {run / 'export' / 'onnx-int8'}" in result.output and "smallest cosine" in result.output
    assert (run / "export" / "onnx-int8" / "onnx" / "model.onnx").exists()
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (run / "model").rglob("*") if p.is_file()}
    assert after == before

    refused = CliRunner().invoke(app, ["export", str(run), "--format", "openvino", "--quantize", "int8"])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: ") and "--format onnx" in refused.stderr
    missing = CliRunner().invoke(app, ["export", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "modules.json" in missing.stderr and "Traceback" not in missing.output
    assert not (tmp_path / "nothing").exists(), "a refused export makes no run folder"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not an export")
    kept = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "mine")])
    assert kept.exit_code == 2 and "is not an earlier export" in kept.stderr
    assert (tmp_path / "mine" / "notes.txt").exists()
