"""Encoding with an exported model folder (`corpustune export`) on onnxruntime or OpenVINO, no torch.

The folder holds the tokenizer, `export.json` (format, graph file, input names, max length,
prompts) and the graph. `ExportedEncoder.encode` does what `SentenceTransformer.encode` does:
prompt + text, truncation to the model's max length, length-sorted batches under a padded-token
budget (as `corpustune.retrieve.encode`), the graph's `sentence_embedding` in input order.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from corpustune.chunking import length_chunks
from corpustune.errors import InputError, require_extra

EXPORT_INFO = "export.json"
Runner = Callable[[dict[str, np.ndarray]], np.ndarray]
"""Graph inputs (name -> int64 (batch, sequence)) -> sentence embeddings, float32 (batch, dim)."""


def read_export_info(folder: Path) -> dict:
    """`export.json` of an exported folder, or an InputError saying how to make one."""
    path = folder / EXPORT_INFO
    if not path.exists():
        raise InputError(f"{folder} is not an exported model (no {EXPORT_INFO}); make one with corpustune export RUN")
    return json.loads(path.read_text(encoding="utf-8"))


class ExportedEncoder:
    """An exported folder ready to encode; `threads` caps the runtime's CPU threads (None: its default)."""

    def __init__(self, folder: str | Path, *, threads: int | None = None):
        from transformers import AutoTokenizer

        self.folder = Path(folder)
        self.info = read_export_info(self.folder)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder))
        self.max_seq_length = int(self.info["max_seq_length"])
        self.prompts: dict[str, str] = self.info.get("prompts", {})
        graph = self.folder / self.info["graph"]
        runners = {"onnx": _onnxruntime_runner, "openvino": _openvino_runner}
        self._run = runners[self.info["format"]](graph, threads)

    def encode(self, texts: Sequence[str], *, prompt_name: str | None = None, prompt: str = "",
               tokens_per_batch: int = 8192) -> np.ndarray:
        """Embeddings of `texts`, float32 (len(texts), dim), in input order; `prompt_name` picks one of
        the model's prompts (`query`, `document`), `prompt` gives the text itself."""
        if prompt_name is not None:
            if prompt_name not in self.prompts:
                raise InputError(f"no prompt {prompt_name!r} in {self.folder}; it has {sorted(self.prompts) or 'none'}")
            prompt = self.prompts[prompt_name]
        full = [prompt + text for text in texts]
        lengths = np.fromiter((len(ids) for ids in self._tokenize(full)["input_ids"]), dtype=np.int64, count=len(full))
        output: np.ndarray | None = None
        for batch in length_chunks(lengths, tokens_per_batch):
            encoded = self._tokenize([full[i] for i in batch], padding=True, return_tensors="np")
            vectors = self._run({name: encoded[name].astype(np.int64) for name in self.info["inputs"]})  # (b, d)
            if output is None:
                output = np.empty((len(full), vectors.shape[1]), dtype=np.float32)
            output[batch] = vectors
        return output if output is not None else np.empty((0, int(self.info["dimension"])), dtype=np.float32)

    def _tokenize(self, texts: list[str], **kwargs):
        return self.tokenizer(texts, truncation=True, max_length=self.max_seq_length, **kwargs)


def _onnxruntime_runner(graph: Path, threads: int | None) -> Runner:
    ort = require_extra("onnxruntime", "export")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    return lambda inputs: session.run(["sentence_embedding"], inputs)[0]


def _openvino_runner(graph: Path, threads: int | None) -> Runner:
    openvino = require_extra("openvino", "export")
    # f32: OpenVINO would otherwise compute in bf16 on CPUs that have it, far from the torch model
    config = {"INFERENCE_PRECISION_HINT": "f32"} | ({"INFERENCE_NUM_THREADS": threads} if threads else {})
    compiled = openvino.Core().compile_model(str(graph), "CPU", config)
    output = compiled.output("sentence_embedding")
    return lambda inputs: compiled(inputs)[output]
