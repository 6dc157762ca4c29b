"""Tiny real models built in code for fast tests: a 2-layer BERT with a word-level tokenizer.

They go through exactly the loading and encoding paths of real models (saved to disk, loaded
by `SentenceTransformer(path)` / `CrossEncoder(path)`), only small and random.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordLevel
from transformers import BertConfig, BertForSequenceClassification, BertModel, PreTrainedTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def build_tokenizer(texts: Iterable[str], max_length: int = 128) -> PreTrainedTokenizerFast:
    """A lower-casing word-level tokenizer whose vocabulary is every word of `texts`."""
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    vocabulary = {token: i for i, token in enumerate(SPECIAL + words)}
    tokenizer = Tokenizer(WordLevel(vocabulary, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocabulary["[CLS]"]), ("[SEP]", vocabulary["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
    )


def tiny_bert_config(vocab_size: int, max_length: int = 128) -> BertConfig:
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_length,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def build_tiny_biencoder(folder: Path, texts: Iterable[str], seed: int = 0, max_length: int = 64) -> Path:
    """Save a tiny mean-pooling, normalized sentence-transformers model to `folder`."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    torch.manual_seed(seed)
    tokenizer = build_tokenizer(texts, max_length)
    backbone = folder / "backbone"
    BertModel(tiny_bert_config(len(tokenizer), max_length)).save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    transformer = Transformer(str(backbone), max_seq_length=max_length)
    model = SentenceTransformer(
        modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean"), Normalize()], device="cpu"
    )
    model.save(str(folder / "model"))
    return folder / "model"


def build_tiny_cross_encoder(folder: Path, texts: Iterable[str], seed: int = 0, max_length: int = 128) -> Path:
    """Save a tiny BERT sequence classifier (one logit) with its tokenizer to `folder`."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(texts, max_length)
    config = tiny_bert_config(len(tokenizer), max_length)
    config.num_labels = 1
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


GGML_F32, GGML_Q8_0 = 0, 8  # 4 bytes per value; blocks of 32 values in 34 bytes (an fp16 scale + 32 int8)


def _gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_tiny_gguf(path: Path, cut: int = 0) -> int:
    """Write a GGUF v3 file by its specification (llama.cpp's gguf.md: header, metadata, tensor
    table, data at 32-byte alignment) with two metadata entries, 8 f32 values and 64 Q8_0 values;
    returns its full length (the file written is `cut` bytes shorter). No weights llama.cpp runs."""
    header = b"GGUF" + struct.pack("<IQQ", 3, 2, 2)  # version, tensors, metadata entries
    header += _gguf_string("general.architecture") + struct.pack("<I", 8) + _gguf_string("tiny")  # a string
    header += _gguf_string("tiny.vocab") + struct.pack("<IIQ", 9, 8, 2) + _gguf_string("a") + _gguf_string("bc")
    header += _gguf_string("w") + struct.pack("<IQ", 1, 8) + struct.pack("<IQ", GGML_F32, 0)
    header += _gguf_string("q") + struct.pack("<IQQ", 2, 32, 2) + struct.pack("<IQ", GGML_Q8_0, 32)
    header += b"\0" * (-len(header) % 32)
    data = b"\1" * 32 + b"\2" * 68  # 8 x 4 bytes at offset 0, then 2 blocks x 34 bytes at offset 32
    content = header + data
    path.write_bytes(content[:len(content) - cut])
    return len(content)
