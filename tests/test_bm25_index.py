"""The run's BM25 index: streamed, saved once, memory-mapped, shared by mining and the BM25
teacher, which scores pairs by id; all against bm25s used the plain way (tokenize the whole
corpus, index it, score all N passages per query) as the reference."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer

from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from corpustune.mine.candidates import build_retrievers
from corpustune.mine.config import MineConfig
from corpustune.parallel import Context
from corpustune.retrieve import bm25 as bm25_module
from corpustune.retrieve.bm25 import BM25Index, BM25Params, shared_index
from corpustune.teach.cache import ScoreCache
from corpustune.teach.lexical import BM25Teacher
from corpustune.teach.scorer import score_pairs

WORDS = ("aspirin heart attack risk running lung mood vitamin deficiency winter sleep memory children coffee "
         "liver disease antibiotics viral infection flu protein cells gene expression tumour growth").split()
STOPWORDS = "the of and is in a to".split()
QUERIES = [
    "does aspirin lower the risk of heart attack",
    "coffee coffee liver",  # a repeated token counts twice
    "tumour growth genes expressed in cells",
    "the of and",  # only stopwords: no known token
    "zebra quantum",  # no word of the corpus
]


def corpus(size: int = 240, seed: int = 0) -> list[Passage]:
    """Passages of random lengths over a small vocabulary (so that terms repeat within and across
    passages), with stopwords, one empty passage and one of stopwords only."""
    rng = np.random.default_rng(seed)
    passages = []
    for i in range(size):
        words = rng.choice(WORDS + STOPWORDS, size=int(rng.integers(3, 40)))
        passages.append(Passage(f"p{i}", " ".join(words), title=str(rng.choice(WORDS)).title() if i % 3 else ""))
    passages[7] = Passage("p7", "")
    passages[11] = Passage("p11", "the of and is")
    return passages


def reference_scores(passages, query: str) -> np.ndarray:
    """All-N BM25 scores, float32 (N,), the way the teacher computed them before the index was shared."""
    stemmer = Stemmer.Stemmer("english")
    model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    model.index(bm25s.tokenize([p.full_text() for p in passages], stopwords="en", stemmer=stemmer,
                               show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
    words = {index: word for word, index in tokens.vocab.items()}
    known = [words[i] for i in tokens.ids[0] if words[i] in model.vocab_dict]
    return model.get_scores(known).astype(np.float32) if known else np.zeros(len(passages), np.float32)


def test_pair_scores_by_id_equal_all_n_scores_bit_for_bit(tmp_path):
    passages = corpus()
    teacher = BM25Teacher(passages, run=tmp_path)
    for query in QUERIES:
        expected = reference_scores(passages, query)
        pairs = [(query, p.id) for p in passages[::-1]]  # any order of passages
        np.testing.assert_array_equal(teacher.score_ids(pairs), expected[::-1])
        by_text = teacher.score([(query, p.full_text()) for p in passages])
        np.testing.assert_array_equal(by_text, expected)
    assert reference_scores(passages, QUERIES[1]).max() > reference_scores(passages, "coffee liver").max()
    with pytest.raises(InputError, match="passage 'nope' is not in the indexed corpus"):
        teacher.score_ids([("aspirin", "nope")])
    with pytest.raises(InputError, match="not in the indexed corpus"):
        teacher.score([("aspirin", "a passage that was never indexed")])


def test_the_saved_index_is_memory_mapped_and_retrieves_as_the_plain_index(tmp_path):
    passages = corpus()
    shared = shared_index(passages, tmp_path, BM25Params())
    assert isinstance(shared._retriever.scores["data"], np.memmap)
    plain = BM25Index(passages)
    ids = [str(i) for i in range(len(QUERIES))]
    assert shared.run(ids, QUERIES, k=25) == plain.run(ids, QUERIES, k=25)
    for query, run in zip(QUERIES, shared.run(ids, QUERIES, k=25).values()):  # the run's scores are bm25s's too
        expected = reference_scores(passages, query)
        assert {p: np.float32(s) for p, s in run.items()} == {
            passages[j].id: expected[j] for j in np.flatnonzero(expected) if passages[j].id in run}


def count_builds(monkeypatch) -> list[int]:
    """Records each BM25 index built (in memory or for saving), calling the real constructor."""
    builds = []
    build = BM25Index.__init__

    def counting(self, passages, **options):
        builds.append(len(passages))
        build(self, passages, **options)

    monkeypatch.setattr(BM25Index, "__init__", counting)
    return builds


def test_mining_and_the_teacher_share_one_index_per_corpus(tmp_path, monkeypatch):
    builds = count_builds(monkeypatch)
    passages = corpus()
    config = MineConfig(dense=[])
    [retriever] = build_retrievers(passages, config, run=tmp_path)
    teacher = BM25Teacher(passages, run=tmp_path)
    assert builds == [len(passages)]  # built once, by mining; the teacher loaded it
    [folder] = RunLayout(tmp_path).cache_dir.glob("bm25-*")
    assert Path(teacher.index._retriever.scores["data"].filename) == folder / "data.csc.index.npy"
    assert retriever.index._retriever.scores["data"].filename == teacher.index._retriever.scores["data"].filename

    edited = passages[:-1] + [Passage("p-new", "coffee liver disease")]
    changed = BM25Teacher(edited, run=tmp_path)
    assert builds == [len(passages), len(edited)]  # a changed corpus never reuses the old index
    assert len(list(RunLayout(tmp_path).cache_dir.glob("bm25-*"))) == 2
    assert changed.id != teacher.id
    np.testing.assert_array_equal(changed.score_ids([("coffee liver", "p-new")]),
                                  reference_scores(edited, "coffee liver")[-1:])


def test_the_scorer_gives_the_teacher_ids_and_caches_by_text(tmp_path):
    passages = corpus()
    teacher = BM25Teacher(passages, run=tmp_path)
    pairs = [(query, p.full_text()) for query in QUERIES for p in passages[:30]]
    ids = [p.id for _ in QUERIES for p in passages[:30]]
    calls = []
    teacher.score = lambda chunk: calls.append(chunk)  # the text path must not be taken
    by_id = score_pairs(pairs, teacher, ScoreCache(tmp_path / "scores"), Context(), chunk_size=16, passage_ids=ids)
    assert calls == []
    expected = np.concatenate([reference_scores(passages, q)[:30] for q in QUERIES])
    np.testing.assert_array_equal(by_id, expected)
    del teacher.score
    cached = score_pairs(pairs, teacher, ScoreCache(tmp_path / "scores"), Context(), chunk_size=16)  # no ids
    np.testing.assert_array_equal(cached, expected)  # the same keys: all from the cache


def test_a_failed_save_leaves_no_index_behind(tmp_path, monkeypatch):
    save = bm25s.BM25.save

    def save_then_fail(self, folder, **options):
        save(self, folder, **options)  # every file written, then the process dies before the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(bm25s.BM25, "save", save_then_fail)
    with pytest.raises(KeyboardInterrupt):
        shared_index(corpus(), tmp_path, BM25Params())
    assert list(RunLayout(tmp_path).cache_dir.iterdir()) == []
    monkeypatch.setattr(bm25s.BM25, "save", save)
    assert shared_index(corpus(), tmp_path, BM25Params()).passage_ids[0] == "p0"


def test_an_index_of_another_corpus_size_is_refused(tmp_path):
    BM25Index(corpus(size=20)).save(tmp_path / "index")
    with pytest.raises(InputError, match=r"index: a BM25 index of 20 passages for a corpus of 21; delete the folder"):
        BM25Index.load(tmp_path / "index", [f"p{i}" for i in range(21)], BM25Params())


def test_a_damaged_index_is_moved_aside_and_built_again(tmp_path, caplog):
    passages = corpus()
    shared_index(passages, tmp_path, BM25Params())
    [folder] = RunLayout(tmp_path).cache_dir.glob("bm25-*")
    data = folder / "data.csc.index.npy"
    garbled = bytearray(data.read_bytes())
    garbled[-1] ^= 0xFF  # one score changed: loads fine, scores wrong
    data.write_bytes(bytes(garbled))
    with caplog.at_level("WARNING"):
        index = shared_index(passages, tmp_path, BM25Params())
    assert "its bytes differ" in caplog.text and (folder.parent / (folder.name + ".corrupt")).is_dir()
    for query in QUERIES:
        np.testing.assert_array_equal(index.pair_scores(query, np.arange(len(passages))),
                                      reference_scores(passages, query))


def _rank(rank: int, world: int, port: int, run: str) -> None:
    """One torchrun-like rank: opens the shared index and writes its builds and run to a file."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    from corpustune.parallel import init_distributed, shutdown_distributed

    context = init_distributed("cpu")
    builds = []
    build = BM25Index.__init__

    def counting(self, passages, **options):
        builds.append(context.rank)
        build(self, passages, **options)

    BM25Index.__init__ = counting
    index = shared_index(corpus(), Path(run), BM25Params(), context=context)
    result = {"builds": builds, "run": index.run(["q"], QUERIES[:1], k=10)}
    Path(run, f"rank-{rank}.json").write_text(json.dumps(result))
    shutdown_distributed()


def test_under_two_ranks_only_rank_0_builds(tmp_path):
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    results = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in range(2)]
    assert [r["builds"] for r in results] == [[0], []]
    assert results[0]["run"] == results[1]["run"] == BM25Index(corpus()).run(["q"], QUERIES[:1], k=10)


def test_on_scifact_the_teacher_scores_every_listed_pair_as_all_n_scoring(tmp_path):
    from corpustune.data.beir import load_split
    from corpustune.data.corpus import CorpusSpec, read_passages
    from tests.conftest import shared_dataset

    folder = shared_dataset("scifact")
    passages = read_passages(CorpusSpec(path=folder))
    queries = [q.text for q in load_split(folder, "test")[0].values()]
    retriever = build_retrievers(passages, MineConfig(dense=[]), run=tmp_path)[0]
    teacher = BM25Teacher(passages, run=tmp_path)
    _, top = retriever.index.search(queries, 100)
    stemmer = Stemmer.Stemmer("english")
    reference = bm25s.BM25()
    reference.index(bm25s.tokenize([p.full_text() for p in passages], stopwords="en", stemmer=stemmer,
                                   show_progress=False), show_progress=False)
    for query, rows in zip(queries, top):
        rows = np.concatenate([rows, np.arange(0, len(passages), 97)])  # the mined list and others
        tokens = bm25s.tokenize([query], stopwords="en", stemmer=stemmer, show_progress=False)
        words = {index: word for word, index in tokens.vocab.items()}
        expected = reference.get_scores([words[i] for i in tokens.ids[0] if words[i] in reference.vocab_dict])
        np.testing.assert_array_equal(teacher.score_ids([(query, passages[r].id) for r in rows]), expected[rows])


@pytest.mark.parametrize("method", ["lucene", "robertson", "atire", "bm25l", "bm25+"])
@pytest.mark.parametrize("shard_tokens", [1, 97, 1 << 22])
def test_the_sharded_build_equals_bm25s_own_build_bit_for_bit(monkeypatch, method, shard_tokens):
    """The score matrix built shard by shard (one passage a shard, a few dozen passages, one shard)
    has the same CSC arrays as bm25s's own whole-corpus build of the same token ids, and the same
    columns, word by word, as bm25s used the plain way (`bm25s.tokenize`, which numbers words otherwise)."""
    monkeypatch.setattr(bm25_module, "SHARD_TOKENS", shard_tokens)
    passages = corpus(size=300, seed=3)
    ours = BM25Index(passages, method=method)._retriever
    whole = bm25s.BM25(k1=1.5, b=0.75, method=method)
    whole.index(bm25_module._tokenize_corpus(passages, "english", False), show_progress=False)
    assert ours.vocab_dict == whole.vocab_dict
    for name in ("data", "indices", "indptr"):
        assert ours.scores[name].dtype == whole.scores[name].dtype, name
        np.testing.assert_array_equal(ours.scores[name], whole.scores[name], err_msg=name)
    assert ours.scores["num_docs"] == whole.scores["num_docs"] == len(passages)
    if whole.nonoccurrence_array is None:
        assert ours.nonoccurrence_array is None
    else:
        np.testing.assert_array_equal(ours.nonoccurrence_array, whole.nonoccurrence_array)

    plain = bm25s.BM25(k1=1.5, b=0.75, method=method)
    plain.index(bm25s.tokenize([p.full_text() for p in passages], stopwords="en",
                               stemmer=Stemmer.Stemmer("english"), show_progress=False), show_progress=False)
    assert ours.vocab_dict.keys() == plain.vocab_dict.keys()

    def column(model, word):
        start, end = model.scores["indptr"][model.vocab_dict[word]: model.vocab_dict[word] + 2]
        return model.scores["indices"][start:end], model.scores["data"][start:end]

    for word in ours.vocab_dict.keys() - {""}:
        for got, expected in zip(column(ours, word), column(plain, word)):
            np.testing.assert_array_equal(got, expected, err_msg=word)
