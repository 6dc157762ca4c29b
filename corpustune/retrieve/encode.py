"""Encoding texts with any sentence-transformers model, fast and cached.

Differences from `SentenceTransformer.encode`, all exact (the same embeddings up to float
rounding): identical texts are encoded once; texts are sorted by *token* length, not characters;
batches are cut by a token budget, so short texts go in larger batches and a batch of texts of
equal length needs no padding.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from corpustune.chunking import length_chunks
from corpustune.data.atomic import atomic_open
from corpustune.data.sealed import read_sealed, seal_file
from corpustune.models import resolve_model
from corpustune.models.resolve import cache_dir


def load_encoder(
    name: str,
    *,
    device: str | None = None,
    max_seq_length: int | None = None,
    trust_remote_code: bool = False,
):
    """Load a sentence-transformers model from an alias, a local path or a hub id."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(name, "embedding"), device=device, trust_remote_code=trust_remote_code)
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def token_lengths(model, texts: Sequence[str], prompt: str = "") -> np.ndarray:
    """Number of tokens of each (prompt + text) after truncation; shape (n,), int64."""
    encoded = model.tokenizer(
        [prompt + t for t in texts],
        truncation=True,
        max_length=model.max_seq_length,
        add_special_tokens=True,
    )["input_ids"]
    return np.fromiter((len(ids) for ids in encoded), dtype=np.int64, count=len(texts))


def encode(
    model,
    texts: Sequence[str],
    *,
    prompt: str = "",
    tokens_per_batch: int = 8192,
    normalize: bool | None = None,
    show_progress: bool = False,
    description: str = "encoding",
) -> np.ndarray:
    """Embed `texts` with `model`; returns float32 (len(texts), dim), in input order.

    `tokens_per_batch` bounds batch size x padded length. `normalize` defaults to the model's
    own similarity: unit vectors for cosine, raw for dot product.
    """
    if normalize is None:
        normalize = model.similarity_fn_name == "cosine"
    unique_texts, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
    lengths = token_lengths(model, unique_texts, prompt)
    embeddings = np.empty((len(unique_texts), model.get_embedding_dimension()), dtype=np.float32)
    progress = tqdm(total=len(unique_texts), desc=description, unit="text", disable=not show_progress)
    for batch in length_chunks(lengths, tokens_per_batch):
        embeddings[batch] = encode_batch(model, [unique_texts[i] for i in batch], prompt=prompt, normalize=normalize)
        progress.update(len(batch))
    progress.close()
    return embeddings[inverse]


def encode_batch(model, texts: Sequence[str], *, prompt: str = "", normalize: bool = True) -> np.ndarray:
    """One forward pass over `texts` padded to the longest: float32 (len(texts), dim), unit rows
    if `normalize`. A text's vector depends on the batch it shares (padding length, kernel
    shapes) only by float rounding."""
    model.eval()
    with torch.inference_mode():
        features = model.preprocess(list(texts), prompt=prompt or None)
        features = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}
        vectors = model(features)["sentence_embedding"].float()
        if normalize:
            vectors = torch.nn.functional.normalize(vectors, dim=-1)
        return vectors.cpu().numpy()


def tokenizer_fingerprint(tokenizer) -> str:
    """What the tokenizer does: a fast tokenizer's whole serialized pipeline (vocabulary,
    normalizer, special tokens), so the same tokenizer saved in another folder (the document route
    of a query-tuned model) has the same fingerprint; a slow one's name or path. The truncation and
    padding settings are left out: transformers sets them on each call, so a tokenizer that has
    encoded once would otherwise no longer match a fresh load of itself."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        pipeline = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        return hashlib.sha256(json.dumps(pipeline, sort_keys=True).encode()).hexdigest()
    return str(tokenizer.init_kwargs.get("name_or_path", ""))


def model_fingerprint(model) -> str:
    """sha256 over the model's weights, architecture and tokenizer: two models with the same
    fingerprint embed identically, wherever they were loaded from."""
    digest = hashlib.sha256(repr(model).encode())
    digest.update(str(model.max_seq_length).encode())
    digest.update(tokenizer_fingerprint(model.tokenizer).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def texts_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    return digest.hexdigest()


class EmbeddingCache:
    """Embeddings of whole text lists on disk, keyed by model fingerprint + prompt + text hash."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self.folder = Path(folder) if folder is not None else cache_dir() / "embeddings"

    def path(self, model, texts: Sequence[str], *, prompt: str = "", normalize: bool | None = None) -> Path:
        """Where the embeddings of this request are (or would be) cached."""
        key = hashlib.sha256(f"{model_fingerprint(model)}|{prompt}|{normalize}|{texts_digest(texts)}".encode()).hexdigest()
        return self.folder / f"{key[:32]}.npy"

    def read(self, path: Path, rows: int, dimension: int) -> np.ndarray | None:
        """The cached float32 (rows, dimension) embeddings at `path`, or None when there are none
        or the entry does not match its seal (then it is moved aside with a warning, see
        `corpustune.data.sealed`), so the caller encodes again."""
        return read_sealed(path, lambda p: np.load(p, allow_pickle=False), shape=(rows, dimension),
                           then="encoding the texts again")

    def encode(self, model, texts: Sequence[str], *, prompt: str = "", **kwargs) -> np.ndarray:
        """Like `encode`, but reads the result from the cache when the same request was made before."""
        path = self.path(model, texts, prompt=prompt, normalize=kwargs.get("normalize"))
        cached = self.read(path, len(texts), model.get_embedding_dimension())
        if cached is not None:
            return cached
        embeddings = encode(model, texts, prompt=prompt, **kwargs)
        with atomic_open(path, "wb") as handle:
            np.save(handle, embeddings)
        seal_file(path, embeddings.shape)
        return embeddings
