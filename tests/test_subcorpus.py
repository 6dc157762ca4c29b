"""The sub-corpus builder (corpustune.evaluate.subcorpus): a pure function of runs, qrels and ids."""

from __future__ import annotations

import pytest

from corpustune.config import SelectConfig
from corpustune.evaluate.subcorpus import build_subcorpus, corpus_sentence, full_corpus_json, uses_subcorpus

CORPUS = [f"p{i:02d}" for i in range(40)]
QRELS_TEST = {"t1": {"p03": 2, "p07": 0}, "t2": {"missing": 1}}
QRELS_HELDOUT = {"h1": {"p11": 1}}
HELDOUT = ["p11", "p12"]
DENSE = {"0": {"p20": 0.9, "p21": 0.8, "p22": 0.7, "p23": 0.6}, "1": {"p03": 0.5, "p24": 0.4}}
BM25 = {"0": {"p30": 9.0, "p20": 8.0, "p31": 8.0, "p32": 1.0}}


def build(distractors: int, seed: int = 0, top_k: int = 2):
    return build_subcorpus(CORPUS, qrels=[QRELS_TEST, QRELS_HELDOUT], heldout=HELDOUT, runs=[DENSE, BM25],
                           top_k=top_k, distractors=distractors, seed=seed)


def test_the_subcorpus_is_the_judged_heldout_and_top_k_passages_counted_by_part():
    sub = build(distractors=0)
    # written out by hand: judged (any grade) p03 p07 p11; held-out p12 (p11 already judged);
    # top 2 of each query of each run: p20 p21 | p03 p24 | p30, then p20 and p31 tie at 8.0 and the id decides
    assert sub.ids == ("p03", "p07", "p11", "p12", "p20", "p21", "p24", "p30")
    assert (sub.judged, sub.heldout, sub.retrieved, sub.distractors) == (3, 1, 4, 0)
    assert sub.not_in_corpus == 1  # "missing" is judged but no passage: counted, not included
    assert sub.to_json() == {"kind": "sub", "passages": 8, "corpus_passages": 40,
                             "built": {"judged": 3, "heldout": 1, "retrieved": 4, "distractors": 0,
                                       "not_in_corpus": 1, "top_k": 2, "seed": 0}}
    assert set(build(distractors=0, top_k=3).ids) - set(sub.ids) == {"p22", "p31"}


def test_distractors_are_a_seeded_sample_of_the_rest_in_corpus_order():
    required = set(build(distractors=0).ids)
    sub = build(distractors=5, seed=7)
    assert required <= set(sub.ids) and len(sub.ids) == len(required) + 5 and sub.distractors == 5
    assert list(sub.ids) == [p for p in CORPUS if p in set(sub.ids)]
    assert build(distractors=5, seed=7) == sub
    others = {build(distractors=5, seed=s).ids for s in range(8)}
    assert len(others) > 1  # the seed draws other distractors
    everything = build(distractors=1000)
    assert everything.ids == tuple(CORPUS) and everything.distractors == len(CORPUS) - len(required)


def test_bad_settings_and_which_corpus_the_settings_ask_for():
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        build(distractors=0, top_k=0)
    auto = SelectConfig(sub_corpus_above=100)
    assert not uses_subcorpus(auto, 100) and uses_subcorpus(auto, 101)
    assert not uses_subcorpus(auto, 101, query_tuned=True) and uses_subcorpus(SelectConfig(corpus="sub"), 10, True)
    assert uses_subcorpus(SelectConfig(corpus="sub"), 10) and not uses_subcorpus(SelectConfig(corpus="full"), 10**7)
    assert "whole corpus (1,400 passages)" in corpus_sentence(full_corpus_json(1400))
    assert "sub-corpus of 8 of the corpus's 40 passages" in corpus_sentence(build(distractors=0).to_json())
