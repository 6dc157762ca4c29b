"""The run folder's layout: every path a stage reads or writes, named once.

```
RUN/config.yaml                      the resolved settings of the last `run` or stage command
RUN/queries/queries.jsonl            generate: kept synthetic queries (BEIR queries format)
RUN/queries/qrels/train.tsv          generate: training query -> source passage
RUN/queries/qrels/heldout.tsv        generate: held-out query -> source passage (all types)
RUN/queries/qrels/heldout-<type>.tsv generate: held-out set of one query type
RUN/queries/stats.json               generate: counts per type and filter
RUN/candidates/candidates.jsonl      mine: one candidate list per kept query, source first
RUN/scores/scores.jsonl              score: teacher scores per kept list, normalized
RUN/train/<arm>/                     train: log, checkpoints and state of the main arm
RUN/train/<arm>/model/               train: the tuned model (sentence-transformers folder)
RUN/select/curve.json                select: base-tuned interpolations on every query set, the choice
RUN/select/subcorpus.json            select: the passage ids of the sub-corpus it evaluated on, if any
RUN/model/                           select: the published model (interpolated, tuned or base)
RUN/ablation/<arm>/model/            ablation: one extra loss arm
RUN/baselines/human-<split>/         train --human-split: InfoNCE on human qrels
RUN/eval/results.json                evaluate: every model on every query set
RUN/export/<format>[-int8]/          corpustune export: RUN/model as ONNX or OpenVINO
RUN/report.html, RUN/report.md       report
RUN/cache/                           run-level caches that outlive a change of settings
RUN/cache/bm25-<corpus>-<settings>/  mine, score: the BM25 index (bm25s files), memory-mapped by both
RUN/.lock                            held by the one process that writes the run folder
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


LOCK_FILE = ".lock"


def is_run_folder(folder: str | os.PathLike) -> bool:
    """True for a folder that a corpustune command has written: it holds the run's config and lock
    file (both are written before the first stage)."""
    layout = RunLayout(folder)
    return layout.config_file.is_file() and layout.lock_file.exists()


@dataclass(frozen=True)
class RunLayout:
    """Paths inside one run folder; `RunLayout("runs/x").scores_file` is `runs/x/scores/scores.jsonl`."""

    root: Path

    def __init__(self, root: str | os.PathLike):
        object.__setattr__(self, "root", Path(root))

    def relative(self, path: Path) -> str:
        """`path` relative to the run folder, as stage outputs are recorded."""
        return path.relative_to(self.root).as_posix()

    @property
    def config_file(self) -> Path:
        return self.root / "config.yaml"

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def generation_log(self) -> Path:
        """Raw completions of every generation call, kept outside the stage folder so that they
        survive a change of generation settings."""
        return self.cache_dir / "generation.log.jsonl"

    @property
    def score_cache(self) -> Path:
        return self.cache_dir / "scores"

    def bm25_index(self, key: str) -> Path:
        """The saved BM25 index named `key` (`BM25Params.key`: corpus digest and BM25 settings)."""
        return self.cache_dir / f"bm25-{key}"

    @property
    def queries_dir(self) -> Path:
        return self.root / "queries"

    @property
    def queries_file(self) -> Path:
        return self.queries_dir / "queries.jsonl"

    @property
    def qrels_dir(self) -> Path:
        return self.queries_dir / "qrels"

    @property
    def train_qrels(self) -> Path:
        return self.qrels_dir / "train.tsv"

    @property
    def heldout_qrels(self) -> Path:
        return self.qrels_dir / "heldout.tsv"

    def heldout_type_qrels(self, query_type: str) -> Path:
        return self.qrels_dir / f"heldout-{query_type}.tsv"

    def heldout_sets(self) -> list[tuple[str, Path]]:
        """(query type, qrels path) of every per-type held-out set present, sorted by type."""
        found = sorted(self.qrels_dir.glob("heldout-*.tsv")) if self.qrels_dir.is_dir() else []
        return [(path.stem.removeprefix("heldout-"), path) for path in found]

    @property
    def dropped_queries(self) -> Path:
        return self.queries_dir / "dropped.jsonl"

    @property
    def generation_settings(self) -> Path:
        return self.queries_dir / "config.json"

    @property
    def query_stats(self) -> Path:
        return self.queries_dir / "stats.json"

    @property
    def candidates_dir(self) -> Path:
        return self.root / "candidates"

    @property
    def candidates_file(self) -> Path:
        return self.candidates_dir / "candidates.jsonl"

    @property
    def candidates_stats(self) -> Path:
        return self.candidates_dir / "stats.json"

    @property
    def scores_dir(self) -> Path:
        return self.root / "scores"

    @property
    def scores_file(self) -> Path:
        return self.scores_dir / "scores.jsonl"

    @property
    def scores_stats(self) -> Path:
        return self.scores_dir / "stats.json"

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def model_dir(self) -> Path:
        """The published model: what the select stage chose (see `select_curve`)."""
        return self.root / "model"

    @property
    def select_dir(self) -> Path:
        return self.root / "select"

    @property
    def select_curve(self) -> Path:
        return self.select_dir / "curve.json"

    @property
    def select_subcorpus(self) -> Path:
        """The passage ids the select grid (and evaluate's arms) ran on, when a sub-corpus (`select.corpus`)."""
        return self.select_dir / "subcorpus.json"

    @property
    def ablation_dir(self) -> Path:
        return self.root / "ablation"

    @property
    def ablation_arms_file(self) -> Path:
        return self.ablation_dir / "arms.json"

    def arm_dirs(self, arm: str, main: bool) -> tuple[Path, Path]:
        """(work folder for log and checkpoints, model folder) of one loss arm."""
        if main:
            return self.train_dir / arm, self.train_dir / arm / "model"
        return self.ablation_dir / arm, self.ablation_dir / arm / "model"

    def human_baseline_dir(self, split: str) -> Path:
        """Work folder of the InfoNCE baseline on a BEIR folder's human qrels; model in `model/`."""
        return self.root / "baselines" / f"human-{split}"

    def export_dir(self, form: str, quantize: str | None) -> Path:
        """Where `corpustune export` puts the published model in `form` (onnx, openvino), e.g.
        RUN/export/onnx-int8; outside RUN/model, whose hash the select stage recorded."""
        return self.root / "export" / (f"{form}-{quantize}" if quantize else form)

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    @property
    def eval_results(self) -> Path:
        return self.eval_dir / "results.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def report_markdown(self) -> Path:
        return self.root / "report.md"

    @property
    def report_files(self) -> Path:
        """Folder of the report stage's markers and the PNGs that report.md links to."""
        return self.root / "report_files"
