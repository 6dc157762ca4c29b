"""Decode many prompts together on one llama.cpp context (llama.cpp's batch API, low-level bindings).

The prompts of one call (all types x counts of a passage) share a long prefix: the system message
and the passage. `BatchDecoder.decode` evaluates that prefix once for every sequence at the same
time (each prefix token carries all sequence ids, so the unified KV cache stores it once), then
each distinct suffix once for the sequences whose prompt it ends (identical prompts with different
seeds share it), then decodes all live sequences in lockstep: one `llama_decode` per step holding
one token per sequence, each sampled from its own logits with its own seeded NumPy generator.

Sampling follows llama-cpp-python's chain for `create_chat_completion` (top-k 40, top-p, min-p 0.05,
temperature, draw; temperature 0: argmax), so both paths sample from the same distribution;
the draws themselves come from NumPy, so a seed gives other texts than on the sequential path.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TOP_K = 40
"""Candidates kept before top-p, as `create_chat_completion` does by default."""
MIN_P = 0.05
"""Candidates below this fraction of the best one's probability are dropped (its default too)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one sequence produced: its sampled tokens (the end-of-generation token excluded) and
    their text, cut before the first stop string."""

    tokens: tuple[int, ...]
    text: str


def sample_token(logits: np.ndarray, rng: np.random.Generator, temperature: float, top_p: float) -> int:
    """A token id drawn from `logits` (float, shape [n_vocab]).

    Temperature 0 is the argmax. Otherwise, as llama.cpp's sampler chain: keep the TOP_K largest
    logits; keep the smallest head whose probabilities (softmax at temperature 1) sum to `top_p`;
    drop those below MIN_P times the best probability; draw from the softmax of the rest divided
    by `temperature`.
    """
    if temperature == 0.0:
        return int(np.argmax(logits))
    top = np.argpartition(logits, -TOP_K)[-TOP_K:] if logits.shape[0] > TOP_K else np.arange(logits.shape[0])
    top = top[np.argsort(-logits[top], kind="stable")]  # [k] ids, best first
    values = logits[top].astype(np.float64)  # [k]
    probs = np.exp(values - values[0])
    probs /= probs.sum()
    if top_p < 1.0:
        keep = int(np.searchsorted(np.cumsum(probs), top_p) + 1)
        top, values, probs = top[:keep], values[:keep], probs[:keep]
    keep = probs >= MIN_P * probs[0]
    top, values = top[keep], values[keep]
    weights = np.exp((values - values[0]) / temperature)  # [k']
    return int(top[rng.choice(weights.shape[0], p=weights / weights.sum())])


def shared_prefix_length(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens every prompt starts with, leaving at least one token of each prompt to evaluate (its
    logits start the decoding)."""
    shortest = min(len(p) for p in prompts)
    first = prompts[0]
    length = 0
    while length < shortest - 1 and all(p[length] == first[length] for p in prompts):
        length += 1
    return length


class BatchDecoder:
    """A second llama.cpp context on a loaded `Llama`'s weights, sized for `n_seq_max` sequences in
    a unified KV cache of `n_ctx` cells (prefix cells are shared, so a call needs the prefix, each
    distinct suffix and every sequence's new tokens: `cells_needed`)."""

    def __init__(self, llm, *, n_ctx: int, n_seq_max: int, n_batch: int = 512):
        import llama_cpp

        self._lib = llama_cpp
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx, params.n_seq_max, params.kv_unified = n_ctx, n_seq_max, True
        params.n_batch = params.n_ubatch = n_batch = max(n_batch, n_seq_max)
        self.ctx = llama_cpp.llama_init_from_model(llm.model, params)
        if not self.ctx:
            raise RuntimeError(f"llama.cpp could not create a context of {n_ctx} cells for {n_seq_max} sequences")
        self.n_ctx = int(llama_cpp.llama_n_ctx(self.ctx))
        self.n_seq_max = int(llama_cpp.llama_n_seq_max(self.ctx))
        self.n_batch = n_batch
        self.batch = llama_cpp.llama_batch_init(n_batch, 0, self.n_seq_max)
        self.vocab = llama_cpp.llama_model_get_vocab(llm.model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self._piece = ctypes.create_string_buffer(256)
        self.seconds = {"prefill": 0.0, "decode": 0.0}
        """Wall seconds spent so far evaluating prompts and decoding new tokens (for benchmarks)."""

    def cells_needed(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> int:
        """KV cells one `decode` of `prompts` takes at most."""
        prefix = shared_prefix_length(prompts)
        suffixes = {tuple(p[prefix:]) for p in prompts}
        return prefix + sum(len(s) for s in suffixes) + len(prompts) * max_new_tokens

    def fits(self, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> bool:
        """Whether one `decode` call can hold these prompts (sequences and KV cells)."""
        return len(prompts) <= self.n_seq_max and self.cells_needed(prompts, max_new_tokens) <= self.n_ctx

    def decode(
        self,
        prompts: Sequence[Sequence[int]],
        seeds: Sequence[int],
        *,
        temperature: float,
        top_p: float,
        max_new_tokens: int,
        stop: Sequence[str] = (),
    ) -> list[Decoded]:
        """Complete every prompt (token ids, chat-formatted) with its own seed; one Decoded each.

        A sequence ends on an end-of-generation token, when its text holds a stop string (the text
        is cut before it; the token that completed it is counted), or after `max_new_tokens`.
        """
        if not self.fits(prompts, max_new_tokens):
            raise ValueError(
                f"{len(prompts)} prompts need {self.cells_needed(prompts, max_new_tokens)} KV cells and "
                f"{len(prompts)} sequences; this context has {self.n_ctx} cells and {self.n_seq_max} sequences "
                "(raise n_ctx, or pass fewer prompts per call)"
            )
        self._lib.llama_memory_clear(self._lib.llama_get_memory(self.ctx), True)
        started = time.perf_counter()
        logits = self._prefill(prompts)
        prefilled = time.perf_counter()
        self.seconds["prefill"] += prefilled - started
        rngs = [np.random.default_rng(seed) for seed in seeds]
        stops = [s.encode("utf-8") for s in stop if s]
        tokens: list[list[int]] = [[] for _ in prompts]
        texts = [b""] * len(prompts)
        live = list(range(len(prompts)))
        while live:
            still = []
            for seq, row in zip(live, logits):
                token = sample_token(row, rngs[seq], temperature, top_p)
                if self._lib.llama_vocab_is_eog(self.vocab, token):
                    continue
                tokens[seq].append(token)
                texts[seq] += self._token_bytes(token)
                cut = [texts[seq].find(s) for s in stops if s in texts[seq]]
                if cut:
                    texts[seq] = texts[seq][: min(cut)]
                elif len(tokens[seq]) < max_new_tokens:
                    still.append(seq)
            live = still
            if live:
                logits = self._step([(tokens[s][-1], len(prompts[s]) + len(tokens[s]) - 1, s) for s in live])
        self.seconds["decode"] += time.perf_counter() - prefilled
        return [Decoded(tuple(t), text.decode("utf-8", errors="ignore")) for t, text in zip(tokens, texts)]

    def _prefill(self, prompts: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """Evaluate the shared prefix once for all sequences and each distinct suffix once for its
        sequences; the logits after each prompt's last token, in prompt order."""
        prefix = shared_prefix_length(prompts)
        everyone = tuple(range(len(prompts)))
        groups: dict[tuple[int, ...], list[int]] = {}
        for seq, prompt in enumerate(prompts):
            groups.setdefault(tuple(prompt[prefix:]), []).append(seq)
        entries = [(token, pos, everyone, False) for pos, token in enumerate(prompts[0][:prefix])]
        for suffix, seqs in groups.items():
            last = len(suffix) - 1
            entries += [(token, prefix + i, tuple(seqs), i == last) for i, token in enumerate(suffix)]
        found = []
        for start in range(0, len(entries), self.n_batch):
            found += self._decode(entries[start : start + self.n_batch])
        out: list[np.ndarray] = [np.empty(0)] * len(prompts)
        for seqs, row in zip(groups.values(), found):  # one row per suffix, in group order
            for seq in seqs:
                out[seq] = row
        return out

    def _step(self, entries: list[tuple[int, int, int]]) -> list[np.ndarray]:
        """One lockstep decode of (token, position, sequence) entries; the logits of each."""
        return self._decode([(token, pos, (seq,), True) for token, pos, seq in entries])

    def _decode(self, entries: list[tuple[int, int, tuple[int, ...], bool]]) -> list[np.ndarray]:
        """One `llama_decode` of (token, position, sequence ids, wants logits) entries; the logits
        (float32, shape [n_vocab], copied) of the entries that want them, in entry order."""
        batch = self.batch
        for i, (token, pos, seqs, wants) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, pos, len(seqs), wants
            for j, seq in enumerate(seqs):
                batch.seq_id[i][j] = seq
        batch.n_tokens = len(entries)
        code = self._lib.llama_decode(self.ctx, batch)
        if code != 0:
            raise RuntimeError(f"llama_decode returned {code} for a batch of {len(entries)} tokens")
        rows = []
        for i, (_, _, _, wants) in enumerate(entries):
            if wants:
                pointer = self._lib.llama_get_logits_ith(self.ctx, i)
                rows.append(np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy())
        return rows

    def _token_bytes(self, token: int) -> bytes:
        """The text of one token as llama-cpp-python's detokenizer writes it (special tokens empty)."""
        n = self._lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:
            self._piece = ctypes.create_string_buffer(-n)
            n = self._lib.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[:n]

    def close(self) -> None:
        if self.ctx:
            self._lib.llama_batch_free(self.batch)
            self._lib.llama_free(self.ctx)
            self.ctx = None
