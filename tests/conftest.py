"""Shared fixtures: tiny corpora and tiny models built in code, and the shared real datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpustune.data.records import Passage
from tests.tiny_models import build_tiny_biencoder, build_tiny_cross_encoder

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"

TINY_PASSAGES = [
    Passage("d1", "Aspirin lowers the risk of heart attack in adults over fifty.", "Aspirin and the heart"),
    Passage("d2", "Regular running improves lung capacity and mood.", "Running"),
    Passage("d3", "Vitamin D deficiency is common in northern winters.", "Vitamin D"),
    Passage("d4", "Deep sleep consolidates memory in children and adults.", "Sleep and memory"),
    Passage("d5", "Coffee consumption is linked to lower liver disease risk.", "Coffee"),
    Passage("d6", "Antibiotics do not cure viral infections such as the flu.", "Antibiotics"),
]
EXTRA_WORDS = "what does do is how which can why the a of in for query passage yes no answer"


@pytest.fixture(scope="session")
def tiny_passages() -> list[Passage]:
    return list(TINY_PASSAGES)


def _vocabulary_texts() -> list[str]:
    return [p.full_text() for p in TINY_PASSAGES] + [EXTRA_WORDS]


@pytest.fixture(scope="session")
def tiny_biencoder_path(tmp_path_factory) -> Path:
    return build_tiny_biencoder(tmp_path_factory.mktemp("tiny-biencoder"), _vocabulary_texts())


@pytest.fixture(scope="session")
def tiny_cross_encoder_path(tmp_path_factory) -> Path:
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"), _vocabulary_texts())


def shared_dataset(name: str) -> Path:
    """Path of a shared BEIR dataset, or skip the test saying where it was looked for."""
    path = SHARED_DATA / name
    if not (path / "corpus.jsonl").exists():
        pytest.skip(f"shared dataset {name!r} not found at {path}; it lives in ../shared/data beside the checkout")
    return path
