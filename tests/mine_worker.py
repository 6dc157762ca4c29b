"""Mining launched as separate processes by the tests (a plain process, or torchrun ranks).

usage: python tests/mine_worker.py MODEL RUN CACHE (any world size)

Mines RUN (queries written by the test) over `sharding_corpus()` with BM25 and the dense model
MODEL, its embeddings cached in CACHE in blocks of `ROWS_PER_BLOCK` rows, and writes
RUN/encoded-{rank}.json: the passage texts this rank's model encoded, in order, as seen by a
recording wrapper around the real `encode_batch`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from corpustune.data.records import Passage
from corpustune.mine.config import MineConfig
from corpustune.mine.stage import mine_run
from corpustune.parallel import init_distributed, shutdown_distributed
from corpustune.retrieve import encode as encode_module
from corpustune.retrieve.encode import EmbeddingCache
from corpustune.retrieve.search import DenseSettings
from tests.conftest import TINY_PASSAGES

torch.set_num_threads(1)  # the same kernels in every process: the comparison is bitwise
ROWS_PER_BLOCK = 4
PASSAGE_PROMPT = "passage: "


def sharding_corpus() -> list[Passage]:
    """22 passages (6 blocks of 4 rows, the last of 2), 17 distinct texts: rows 12, 13, 16 and 20
    repeat rows 0, 1, 4 and 8 (first occurrences in the other half of the corpus), row 18 repeats
    row 14 (the same half)."""
    texts = [p.text for p in TINY_PASSAGES]
    made = [f"{texts[i % 6]} {texts[(i // 6 + i + 1) % 6]}" if i % 4 else texts[i % 6] for i in range(22)]
    made[13], made[18] = made[1], made[14]
    return [Passage(f"p{i}", text) for i, text in enumerate(made)]


def main() -> None:
    model, run, cache = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    context = init_distributed("cpu")
    encoded: list[str] = []
    original = encode_module.encode_batch

    def recording(model, texts, *, prompt="", normalize=True, bf16=False):
        if prompt == PASSAGE_PROMPT:
            encoded.extend(texts)
        return original(model, texts, prompt=prompt, normalize=normalize, bf16=bf16)

    encode_module.encode_batch = recording
    config = MineConfig(dense=[DenseSettings(model=model, passage_prompt=PASSAGE_PROMPT, query_prompt="query: ",
                                             tokens_per_batch=48, precision="fp32")],  # exact on every CPU
                        depth=8, list_size=5, filter_top_n=None)
    mine_run(run, sharding_corpus(), config, cache=EmbeddingCache(cache, rows_per_block=ROWS_PER_BLOCK))
    (run / f"encoded-{context.rank}.json").write_text(json.dumps(encoded))
    shutdown_distributed()


if __name__ == "__main__":
    main()
