"""Building a teacher from its `TeacherSpec`; heavy libraries load only for the kind asked for."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.teach.base import Teacher
from corpustune.teach.config import DEFAULT_MODELS, TeacherSpec

if TYPE_CHECKING:
    from corpustune.parallel import Context
    from corpustune.retrieve.encode import EmbeddingCache
    from corpustune.teach.onnx_model import OnnxSource


def build_teacher(spec: TeacherSpec, passages: Sequence[Passage], device: str | None = None,
                  embedding_cache: EmbeddingCache | None = None, *, run: Path | None = None,
                  context: Context | None = None) -> Teacher:
    """The teacher `spec` describes; a model-based one runs on `device` (None: its library's pick).

    llama.cpp (GGUF) and ONNX teachers run on the CPU whatever `device` says. A bi-encoder teacher reads the
    passages' embeddings from `embedding_cache` where the same model already embedded the whole
    corpus (mining with that model, an evaluation). A BM25 teacher reads the BM25 index saved in
    the `run` folder (the one mining used; under torchrun `context`'s rank 0 builds it if absent).
    """
    model = spec.model or DEFAULT_MODELS[spec.kind]
    if spec.kind == "bm25":
        from corpustune.teach.lexical import BM25Teacher

        return BM25Teacher(passages, language=spec.bm25_language, run=run, context=context)
    if model is None:
        raise InputError(f"teacher {spec.kind!r} needs a model: give an alias, a local path or a hub id")
    if spec.kind == "cross-encoder":
        from corpustune.teach.cross_encoder import CrossEncoderTeacher, OnnxCrossEncoderTeacher

        onnx = _onnx_source(spec, model, "cross-encoder")
        if onnx is not None:
            return OnnxCrossEncoderTeacher(model, onnx, max_length=spec.max_length,
                                           tokens_per_batch=spec.tokens_per_batch)
        return CrossEncoderTeacher(
            model, max_length=spec.max_length, tokens_per_batch=spec.tokens_per_batch,
            precision=spec.precision, device=device, trust_remote_code=spec.trust_remote_code,
        )
    if spec.kind == "biencoder":
        from corpustune.teach.biencoder import BiEncoderTeacher, OnnxBiEncoderTeacher

        onnx = _onnx_source(spec, model, "biencoder")
        if onnx is not None:
            return OnnxBiEncoderTeacher(
                model, onnx, query_prompt=spec.query_prompt, passage_prompt=spec.passage_prompt,
                pooling=spec.pooling, max_seq_length=spec.max_length, tokens_per_batch=spec.tokens_per_batch,
            )
        return BiEncoderTeacher(
            model, query_prompt=spec.query_prompt or "", passage_prompt=spec.passage_prompt,
            max_seq_length=spec.max_length, tokens_per_batch=spec.tokens_per_batch, precision=spec.precision,
            device=device, trust_remote_code=spec.trust_remote_code,
            corpus=[p.full_text() for p in passages], embedding_cache=embedding_cache,
        )
    from corpustune.teach.llm import LLMTeacher

    return LLMTeacher(
        model, backend=spec.llm_backend, layout=spec.llm_layout, max_passage_words=spec.max_passage_words,
        n_ctx=spec.n_ctx, device=device,
    )


def _onnx_source(spec: TeacherSpec, model: str, role: str) -> OnnxSource | None:
    """Where the ONNX model `model` is, when it is one (an ONNX alias or folder); None for a
    torch model. An ONNX model runs on onnxruntime's CPU threads in its own precision, so a
    precision setting other than auto is refused rather than ignored."""
    from corpustune.teach.onnx_model import find_onnx_model

    source = find_onnx_model(model, role)
    if source is not None and spec.precision != "auto":
        raise InputError(f"teacher {spec.kind}:{model} is an ONNX model, which computes in the precision it was "
                         f"saved in; remove precision: {spec.precision} from its settings")
    return source


def parse_teacher(text: str) -> TeacherSpec:
    """`kind[:model][@weight]`, e.g. `cross-encoder:./my-reranker`, `biencoder:mpnet@0.5`, `bm25`."""
    body, _, weight = text.partition("@")
    kind, _, model = body.partition(":")
    if kind not in DEFAULT_MODELS:
        raise InputError(f"unknown teacher {text!r}: the kind must be one of {sorted(DEFAULT_MODELS)}")
    try:
        return TeacherSpec(kind=kind, model=model or None, weight=float(weight) if weight else 1.0)  # type: ignore[arg-type]
    except ValueError:
        raise InputError(f"teacher {text!r}: the weight after '@' must be a number") from None
