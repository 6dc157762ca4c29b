"""The five stages of `corpustune run` as pipeline steps over one run folder.

Each step only calls the stage's library API with the resolved config; what the stages read and
write is the run-folder contract (README, "Run folder"). Evaluation compares the base student
with the tuned model (and any ablation arms) and the report step renders the results.
"""

from __future__ import annotations

from pathlib import Path

from corpustune.config import RunConfig
from corpustune.data.records import Passage
from corpustune.pipeline.fingerprint import hash_path
from corpustune.pipeline.runner import Stage, StageResult
from corpustune.retrieve.encode import EmbeddingCache


def build_stages(config: RunConfig, passages: list[Passage]) -> list[Stage]:
    """The ordered stages; `passages` is the corpus read once by the caller.

    Each stage's fingerprint covers only the settings it uses, so changing, say, the
    evaluation depth reruns evaluation and the report but not training.
    """
    corpus = {"corpus": hash_path(config.data.path)}
    by_id = {p.id: p for p in passages}

    def generate(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.generate.runner import run_generation

        result = run_generation(passages, settings, run_dir, log_path=run_dir / "cache" / "generation.log.jsonl")
        counts = {"generated_calls": result.generated_calls, "reused_records": result.reused_records}
        return StageResult(["queries/queries.jsonl", "queries/qrels", "queries/stats.json"], counts)

    def mine(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.mine.stage import mine_run

        stats = mine_run(run_dir, passages, settings, cache=EmbeddingCache(), show_progress=True)
        return StageResult(["candidates/candidates.jsonl", "candidates/stats.json"], stats.to_json())

    def score(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.teach.stage import score_run

        stats = score_run(run_dir, passages, settings, show_progress=True, cache_dir=run_dir / "cache" / "scores")
        counts = {k: v for k, v in stats.items() if isinstance(v, int)}
        return StageResult(["scores/scores.jsonl", "scores/stats.json"], counts)

    def train(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.train.arms import train_arms

        train_arms(run_dir, by_id, config.train, [config.train.loss])
        return StageResult(["model"], {"arm": config.train.loss})

    def ablation(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.data.atomic import write_json_atomic
        from corpustune.train.arms import ablation_arms, train_arms

        arms = ablation_arms(config.train.loss, config.ablation)
        folders = train_arms(run_dir, by_id, config.train, arms)
        write_json_atomic(run_dir / "ablation" / "arms.json", {"arms": arms})
        return StageResult(["ablation/arms.json"] + [str(f.relative_to(run_dir)) for f in folders], {"arms": len(arms)})

    def evaluate(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.evaluate.compare import evaluate_run

        evaluate_run(run_dir, passages, config)
        return StageResult(["eval/results.json"])

    def report(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.report import write_report
        from corpustune.report.collect import collect_report_data

        write_report(run_dir, collect_report_data(run_dir, config, by_id))
        return StageResult(["report.html", "report.md"])

    training = config.model_dump(mode="json", include={"train"})
    ablating = config.model_dump(mode="json", include={"train", "ablation"})
    evaluation = config.model_dump(mode="json", include={"train", "ablation", "evaluate"})
    return [
        Stage("generate", generate, config.generate, inputs=corpus, folder="queries"),
        Stage("mine", mine, config.mine, after=("generate",), inputs=corpus, folder="candidates"),
        Stage("score", score, config.score, after=("mine",), inputs=corpus, folder="scores"),
        Stage("train", train, training, after=("score", "generate"), inputs=corpus, folder="train"),
        Stage("ablation", ablation, ablating, after=("score", "generate"), inputs=corpus, folder="ablation"),
        Stage("evaluate", evaluate, evaluation, after=("train", "ablation", "generate"), inputs=corpus, folder="eval"),
        Stage("report", report, None, after=("evaluate", "train", "ablation", "score", "mine", "generate"),
              folder="report_files"),
    ]
