"""Subprocess for the resume test: scores a run folder with a cross-encoder teacher and, when asked,
kills itself with SIGKILL right after the teacher has scored N chunks (no clean shutdown)."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.teach import stage
from corpustune.teach.config import ScoreConfig, TeacherSpec


def main() -> None:
    run, corpus, model, kill_after = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    build = stage.build_teacher
    chunks = 0

    def killing_build(spec, passages, **options):
        teacher = build(spec, passages, **options)
        score = teacher.score

        def score_then_maybe_die(pairs):
            nonlocal chunks
            result = score(pairs)
            chunks += 1
            if chunks > kill_after > 0:  # this chunk's scores never reach the cache
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        teacher.score = score_then_maybe_die
        return teacher

    stage.build_teacher = killing_build
    config = ScoreConfig(
        teachers=[TeacherSpec(kind="cross-encoder", model=model, max_length=128)],
        require_positive_first=False,
        top_score_percentile=None,
        chunk_size=3,
    )
    stats = stage.score_run(run, read_passages(CorpusSpec(path=corpus)), config)
    print(stats["scoring"]["scored_pairs"], stats["scoring"]["cached_pairs"])


if __name__ == "__main__":
    main()
