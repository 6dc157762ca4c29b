"""A sentence-transformers model as one ONNX graph: token ids in, token and sentence embeddings out.

Why not sentence-transformers' own `export_optimized_onnx_model` / `export_dynamic_quantized_onnx_model`
/ `backend="onnx"`: all of them go through `optimum` (`optimum-onnx`, `optimum-intel`), whose
releases require transformers < 5 (optimum-onnx 0.1.0: < 4.58; optimum-intel 2.2.0: < 5.6 and
huggingface-hub < 1.22), so they cannot be installed next to the transformers 5 that
sentence-transformers 6 runs on here. The graph is therefore made with `torch.onnx.export`
(the dynamo exporter) and run with onnxruntime, with the same input and output names as
optimum's feature-extraction export, plus the pooled sentence embedding.

The graph runs every module of the model (transformer, pooling, dense, normalize), so
`sentence_embedding` is what `SentenceTransformer.encode` returns, without a prompt's tokens
handled specially: models whose pooling excludes the prompt (`include_prompt=False`) are refused.
int8 is weight-only: `MatMulNBits` with 8-bit symmetric blocks of 32 weights (onnxruntime's
`MatMulNBitsQuantizer`); activations stay float32, which keeps the embeddings within a cosine of
about 0.9997 of the float model (dynamic int8 quantization of activations, `quantize_dynamic`,
gave 0.992 on MiniLM).
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from corpustune.errors import InputError, require_extra

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("last_hidden_state", "sentence_embedding")
INT8_BLOCK_SIZE = 32
OPSET = 18


class _Graph(torch.nn.Module):
    """The model's modules as one forward over positional id tensors (the exporter's signature)."""

    def __init__(self, model, input_names: tuple[str, ...]):
        super().__init__()
        self.model = model
        self.input_names = input_names

    def forward(self, *ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model(dict(zip(self.input_names, ids)))
        return features["token_embeddings"], features["sentence_embedding"]  # (b, s, h), (b, d)


def model_input_names(model) -> tuple[str, ...]:
    """The id tensors the model's tokenizer makes, in `INPUT_NAMES` order."""
    made = model.tokenizer(["a", "b c"], padding=True, return_tensors="pt")
    return tuple(name for name in INPUT_NAMES if name in made)


def export_onnx(model, path: Path) -> tuple[str, ...]:
    """Write `model` (a SentenceTransformer on CPU, float32) as one ONNX file at `path`, batch and
    sequence dimensions dynamic; returns the graph's input names."""
    require_extra("onnxscript", "export")
    for module in model.modules():
        if getattr(module, "include_prompt", True) is False:
            raise InputError("this model's pooling leaves out the prompt's tokens (include_prompt=False), which the "
                             "exported graph cannot know; export a model whose pooling includes them")
    names = model_input_names(model)
    sample = model.tokenizer(["an example passage to trace", "a second, longer example passage to trace it with"],
                             padding=True, return_tensors="pt")
    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    graph = _Graph(model.eval(), names).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings(), _quiet("torch.onnx", "onnx_ir", "onnxscript"):
        warnings.simplefilter("ignore")  # the exporter warns about its own axis names and torchvision
        torch.onnx.export(
            graph, tuple(sample[name] for name in names), str(path), input_names=list(names),
            output_names=list(OUTPUT_NAMES), opset_version=OPSET, dynamo=True, external_data=False, verbose=False,
            dynamic_shapes=(tuple({0: batch, 1: sequence} for _ in names),),  # forward(*ids): one spec per id tensor
        )
    return names


def quantize_int8(source: Path, target: Path) -> None:
    """Weight-only int8 copy of the ONNX file `source` at `target` (every MatMul with a constant weight)."""
    onnx = require_extra("onnx", "export")
    nbits = require_extra("onnxruntime.quantization.matmul_nbits_quantizer", "export")
    with _quiet("onnxruntime.quantization", "onnx_ir"):
        quantizer = nbits.MatMulNBitsQuantizer(onnx.load(str(source)), bits=8, block_size=INT8_BLOCK_SIZE,
                                               is_symmetric=True)
        quantizer.process()
    quantizer.model.save_model_to_file(str(target), use_external_data_format=False)


@contextmanager
def _quiet(*logger_names: str):
    """Hold chatty library loggers at ERROR for the duration (onnxruntime's quantizer configures the
    root logger at INFO when imported, then it and the exporter log every node, and the exporter
    warns that torchvision is not installed)."""
    loggers = [logging.getLogger(name) for name in logger_names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
