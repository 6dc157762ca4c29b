"""Reference scores on the real SciFact collection (BEIR test split)."""

from __future__ import annotations

import pytest

from corpustune.data.beir import load_split
from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.evaluate.retrieval import evaluate_retriever
from corpustune.retrieve.search import RetrieverSettings
from tests.conftest import shared_dataset


@pytest.fixture(scope="module")
def scifact():
    folder = shared_dataset("scifact")
    queries, qrels = load_split(folder, "test")
    return read_passages(CorpusSpec(path=folder)), queries, qrels


def test_scifact_shape(scifact):
    passages, queries, qrels = scifact
    assert (len(passages), len(queries), sum(map(len, qrels.values()))) == (5183, 300, 339)


def test_bm25_matches_the_reference_score(scifact):
    evaluation = evaluate_retriever(*scifact, RetrieverSettings(kind="bm25"))
    assert evaluation.metrics["nDCG@10"] == pytest.approx(0.686, abs=0.005)


@pytest.mark.slow
def test_minilm_matches_its_published_score(scifact):
    evaluation = evaluate_retriever(*scifact, RetrieverSettings(kind="dense"))
    assert evaluation.metrics["nDCG@10"] == pytest.approx(0.645, abs=0.005)
