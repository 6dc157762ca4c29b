"""`corpustune export`: a published model (a sentence-transformers folder) as an ONNX or OpenVINO
folder for CPU serving, optionally with int8 weights, checked against the torch model.

The exported folder keeps the sentence-transformers files (tokenizer, prompts, module configs;
not the torch weights of the transformer) and adds the graph where sentence-transformers'
backends look for it (`onnx/model.onnx`, `openvino/openvino_model.xml`) and `export.json`, which
`ExportedEncoder` reads. Every export is checked: the torch model and the exported one encode
`CHECK_TEXTS`, and the largest absolute difference and the smallest cosine are recorded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from corpustune.errors import InputError, require_extra
from corpustune.export.onnx import export_onnx, quantize_int8
from corpustune.export.runtime import EXPORT_INFO, ExportedEncoder

ExportFormat = Literal["onnx", "openvino"]
GRAPHS = {"onnx": "onnx/model.onnx", "openvino": "openvino/openvino_model.xml"}
TORCH_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
CHECK_TEXTS = (
    "What lowers the risk of heart attack?",
    "aspirin, heart attack, adults",
    "Regular running improves lung capacity and mood in adults who were inactive before.",
    " ".join(["Vitamin D deficiency is common in northern winters, when the sun is low."] * 40),  # > max length
)


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and how close it is to the torch model on `CHECK_TEXTS`."""

    folder: Path
    max_abs_diff: float
    min_cosine: float
    size_bytes: int


def export_model(model_dir: Path, out: Path, *, form: ExportFormat = "onnx", quantize: str | None = None,
                 trust_remote_code: bool = False) -> ExportResult:
    """Export the sentence-transformers folder `model_dir` to `out` (replaced whole, atomically)."""
    from sentence_transformers import SentenceTransformer

    check_export(model_dir, out, form=form, quantize=quantize)
    model = SentenceTransformer(str(model_dir), device="cpu", trust_remote_code=trust_remote_code).float().eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _copy_model_files(model_dir, staging)
        model.tokenizer.save_pretrained(str(staging))
        graph = staging / GRAPHS[form]
        float_graph = staging / "onnx" / ("model.float.onnx" if quantize or form != "onnx" else "model.onnx")
        inputs = export_onnx(model, float_graph)
        if quantize:
            quantize_int8(float_graph, graph)
        elif form == "openvino":
            _to_openvino(float_graph, graph)
        if form != "onnx":
            shutil.rmtree(float_graph.parent)
        elif float_graph != graph:
            float_graph.unlink()
        info = {"format": form, "quantize": quantize, "graph": GRAPHS[form], "inputs": list(inputs),
                "max_seq_length": model.max_seq_length, "dimension": model.get_embedding_dimension(),
                "prompts": dict(model.prompts), "source": str(model_dir.resolve())}
        _write_info(staging, info)
        difference, cosine = agreement(model, ExportedEncoder(staging), CHECK_TEXTS)
        _write_info(staging, info | {"check": {"texts": len(CHECK_TEXTS), "max_abs_diff": difference,
                                               "min_cosine": cosine}})
        staging.chmod(0o755)  # mkdtemp made it private; the export is meant to be served
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum(path.stat().st_size for path in out.rglob("*") if path.is_file())
    return ExportResult(out, difference, cosine, size)


def check_export(model_dir: Path, out: Path, *, form: str = "onnx", quantize: str | None = None) -> None:
    """Raise InputError, before anything is loaded or written, for an export that cannot work: an
    unknown format or quantization, a source that is not a sentence-transformers folder, or an
    output that is a file or a folder other than an earlier export (which would be replaced)."""
    if form not in GRAPHS:
        raise InputError(f"--format {form!r}: choose {' or '.join(GRAPHS)}")
    if quantize not in (None, "int8"):
        raise InputError(f"--quantize {quantize!r}: the only quantization is int8")
    if quantize and form != "onnx":
        raise InputError("--quantize int8 is available with --format onnx (OpenVINO's int8 needs nncf, not a "
                         "dependency of corpustune); export OpenVINO unquantized or ONNX with int8")
    if not (model_dir / "modules.json").exists():
        raise InputError(f"{model_dir} is not a sentence-transformers folder (no modules.json); pass a run folder "
                         "whose select stage has published RUN/model, or a model folder with --model")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; --out names the folder the export is written to")
    if out.is_dir() and any(out.iterdir()) and not (out / EXPORT_INFO).exists():
        raise InputError(f"{out}: a folder that is not an earlier export (no {EXPORT_INFO}) and would be replaced "
                         f"whole; give a new or empty folder with --out")


def agreement(model, exported: ExportedEncoder, texts) -> tuple[float, float]:
    """(largest |torch - exported| over all embedding entries, smallest cosine between the two
    embeddings of one text) over `texts`, each with and without the model's first prompt."""
    prompt = next(iter(model.prompts.values()), "")
    prompts = list(dict.fromkeys(["", prompt]))
    reference = np.concatenate([model.encode(list(texts), prompt=p, convert_to_numpy=True, show_progress_bar=False)
                                for p in prompts])  # (n, d)
    ours = np.concatenate([exported.encode(list(texts), prompt=p) for p in prompts])  # (n, d)
    cosine = (reference * ours).sum(1) / (np.linalg.norm(reference, axis=1) * np.linalg.norm(ours, axis=1))
    return float(np.abs(reference - ours).max()), float(cosine.min())


def _write_info(folder: Path, info: dict) -> None:
    """`export.json` (the folder is still private staging, so no atomic write is needed)."""
    (folder / EXPORT_INFO).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")


def _copy_model_files(model_dir: Path, target: Path) -> None:
    """The folder's files without the transformer's torch weights (the graph replaces them)."""
    modules = json.loads((model_dir / "modules.json").read_text(encoding="utf-8"))
    transformer = next((m["path"] for m in modules if m["type"].endswith("Transformer")), "")
    skip = {(Path(transformer) / name).as_posix() for name in TORCH_WEIGHTS}
    for path in sorted(model_dir.rglob("*")):
        relative = path.relative_to(model_dir).as_posix()
        if path.is_file() and relative not in skip:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / relative)


def _to_openvino(onnx_graph: Path, xml: Path) -> None:
    """OpenVINO IR (`.xml` + `.bin`) of an ONNX graph, weights kept in float32."""
    openvino = require_extra("openvino", "export")
    xml.parent.mkdir(parents=True, exist_ok=True)
    openvino.save_model(openvino.convert_model(str(onnx_graph)), str(xml), compress_to_fp16=False)
