"""Tiny real models built in code for fast tests: a 2-layer BERT with a word-level tokenizer.

They go through exactly the loading and encoding paths of real models (saved to disk, loaded
by `SentenceTransformer(path)` / `CrossEncoder(path)`), only small and random.
"""

from __future__ import annotations

import re
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
