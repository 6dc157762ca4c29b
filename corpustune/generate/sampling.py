"""Which passages get queries: seeded sampling, short passages skipped and counted, a held-out set;
and which query types each passage gets."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass, field

from corpustune.data.records import Passage
from corpustune.generate.config import GenerateConfig
from corpustune.generate.prompts import stable_seed
from corpustune.generate.types import QueryType

MAX_REPORTED = 5


@dataclass
class PassageSample:
    """Sampled passages in generation order; the first `len(heldout_ids)` of them are held out.

    The order is one seeded permutation of all eligible passages, so a larger `max_passages`
    extends a smaller sample (finished work stays valid) and the held-out set does not move.
    """

    passages: list[Passage]
    heldout_ids: set[str]
    eligible: int = 0
    skipped_short: int = 0
    skipped_duplicate: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "sampled": len(self.passages),
            "heldout": len(self.heldout_ids),
            "eligible": self.eligible,
            "skipped_short": self.skipped_short,
            "skipped_duplicate_text": self.skipped_duplicate,
            "skipped_examples": self.skipped_examples,
        }


def sample_passages(
    passages: Iterable[Passage],
    *,
    seed: int,
    max_passages: int | None = None,
    min_chars: int = 10,
    heldout_count: int = 100,
    heldout_max_fraction: float = 0.2,
) -> PassageSample:
    """Skip passages shorter than `min_chars` (title + text) and repeats of an earlier passage's
    text (case and spacing ignored), shuffle the rest with `seed`, keep the first `max_passages`.

    Held out: the first min(heldout_count, floor(heldout_max_fraction x sampled)) passages.
    Repeats are found by a 16-byte digest of each normalized text (`text_key`), so what this keeps
    beyond the passages is one small digest a passage, whatever their length.
    """
    eligible: list[Passage] = []
    seen_texts: set[bytes] = set()
    skipped_short = skipped_duplicate = 0
    examples: list[str] = []
    for passage in passages:
        text = passage.full_text()
        if len(text.strip()) < min_chars:
            skipped_short += 1
            if len(examples) < MAX_REPORTED:
                examples.append(f"{passage.id} (short)")
            continue
        key = text_key(text)
        if key in seen_texts:
            skipped_duplicate += 1
            if len(examples) < MAX_REPORTED:
                examples.append(f"{passage.id} (duplicate text)")
        else:
            seen_texts.add(key)
            eligible.append(passage)
    # Shuffle in a fixed order first, so the sample does not depend on the corpus file's order.
    eligible.sort(key=lambda p: p.id)
    random.Random(seed).shuffle(eligible)
    chosen = eligible if max_passages is None else eligible[:max_passages]
    heldout = min(heldout_count, int(heldout_max_fraction * len(chosen)))
    return PassageSample(
        passages=chosen,
        heldout_ids={p.id for p in chosen[:heldout]},
        eligible=len(eligible),
        skipped_short=skipped_short,
        skipped_duplicate=skipped_duplicate,
        skipped_examples=examples,
    )


def text_key(text: str) -> bytes:
    """16-byte BLAKE2b digest of `text` lower-cased with its whitespace runs collapsed to one space:
    equal for texts that differ only in case and spacing (a collision among 2^64 texts is unlikely)."""
    return hashlib.blake2b(" ".join(text.lower().split()).encode("utf-8"), digest_size=16).digest()


def passage_types(passage: Passage, types: list[QueryType], config: GenerateConfig, *, heldout: bool) -> list[QueryType]:
    """The types `passage` gets, in `types` order: all of them for a held-out passage or without
    `types_per_passage`; otherwise the `types_per_passage` types of smallest seeded hash of
    (seed, passage, type name), so each passage draws its own subset and adding a type to the
    list changes a passage's subset only where the new type ranks in it."""
    k = config.subset_size(len(types))
    if heldout or k is None:
        return list(types)
    ranked = sorted(types, key=lambda t: stable_seed(config.seed, passage.id, t.name, "subset"))
    chosen = {t.name for t in ranked[:k]}
    return [t for t in types if t.name in chosen]
