"""The stages of `corpustune run` as pipeline steps over one run folder.

Each step only calls the stage's library API with the resolved config; what the stages read and
write is the run-folder contract (`corpustune.layout`). After training, the select stage
interpolates the tuned student with the base, chooses on held-out queries and publishes
RUN/model (the base model itself when tuning did not help); evaluation compares base, tuned,
published (and any ablation arms) and the report step renders the results. The stage
commands (`corpustune generate`, `mine`, `score`, `train`) run one of these same steps, so a
stage run by hand is one that `corpustune run` recognises as done.
"""

from __future__ import annotations

from pathlib import Path

from corpustune.config import RunConfig
from corpustune.data.beir import beir_file, qrels_file
from corpustune.data.corpus import corpus_digest
from corpustune.data.records import Passage
from corpustune.layout import RunLayout
from corpustune.parallel import Context
from corpustune.pipeline.fingerprint import hash_path
from corpustune.pipeline.runner import Stage, StageResult
from corpustune.retrieve.encode import EmbeddingCache


def human_split_hashes(config: RunConfig) -> dict[str, str]:
    """Hashes of the human queries and qrels that selection and evaluation read (the test and
    dev splits that the data folder has)."""
    data = Path(config.data.path)
    if not data.is_dir():
        return {}
    files = {"human_queries": beir_file(data, "queries.jsonl")}
    for role, split in (("test", config.evaluate.split), ("dev", config.select.dev_split)):
        if split is not None:
            files[f"human_qrels_{role}"] = qrels_file(data, split)
    return {name: hash_path(path) for name, path in files.items() if path.exists()}


def build_stages(config: RunConfig, passages: list[Passage], context: Context | None = None) -> list[Stage]:
    """The ordered stages; `passages` is the corpus as read once by the caller with `config.data`.

    Each stage's fingerprint covers only the settings it uses, so changing, say, the
    evaluation depth reruns evaluation and the report but not training. Every stage depends on
    the corpus *as read* (`corpus_digest`): an edited passage, or a reading setting that makes
    other passages, reruns everything; moving the files does not. `context` is the torchrun
    process group of a stage command (training uses its device; select and evaluate share the
    corpus's encoding and search among its ranks).
    """
    corpus = {"corpus": corpus_digest(passages)}
    by_id = {p.id: p for p in passages}

    def generate(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.generate.runner import run_generation

        result = run_generation(passages, settings, run_dir)
        counts = {"generated_calls": result.generated_calls, "reused_records": result.reused_records,
                  "heldout_passages": result.stats["passages"]["heldout"]}
        layout = RunLayout(run_dir)
        return StageResult([layout.relative(p) for p in (layout.queries_file, layout.qrels_dir, layout.query_stats)],
                           counts)

    def mine(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.mine.stage import mine_run

        stats = mine_run(run_dir, passages, settings, cache=EmbeddingCache(), show_progress=True)
        layout = RunLayout(run_dir)
        counts = stats.to_json() if stats is not None else {}
        # stats.json (seconds, embedding-cache use) is beside the lists, not an output: the outputs
        # digest, which downstream stages depend on, covers content only
        return StageResult([layout.relative(layout.candidates_file)], counts)

    def score(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.teach.stage import score_run

        stats = score_run(run_dir, passages, settings, show_progress=True, embedding_cache=EmbeddingCache()) or {}
        counts = {k: v for k, v in stats.items() if isinstance(v, int)}
        layout = RunLayout(run_dir)
        # stats.json (seconds, score-cache hits) is not an output, as for mine
        return StageResult([layout.relative(layout.scores_file)], counts)

    def train(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.train.arms import train_arms

        [model_dir] = train_arms(run_dir, by_id, config.train, [config.train.loss], context=context)
        return StageResult([RunLayout(run_dir).relative(model_dir)], {"arm": config.train.loss})

    def ablation(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.data.atomic import write_json_atomic
        from corpustune.train.arms import ablation_arms, train_arms

        layout = RunLayout(run_dir)
        arms = ablation_arms(config.train.loss, config.ablation)
        folders = train_arms(run_dir, by_id, config.train, arms)
        write_json_atomic(layout.ablation_arms_file, {"arms": arms})
        return StageResult([layout.relative(layout.ablation_arms_file)] + [layout.relative(f) for f in folders],
                           {"arms": len(arms)})

    def select(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.evaluate.publish import select_run

        curve = select_run(run_dir, passages, config, context)
        layout = RunLayout(run_dir)
        outputs = [layout.select_curve, layout.model_dir]
        if curve["corpus"]["kind"] == "sub":  # evaluate runs the arms on the same passages
            outputs.append(layout.select_subcorpus)
        return StageResult([layout.relative(p) for p in outputs],
                           {"published_weight": curve["published_weight"], "decided_on": curve["decided_on"],
                            "corpus_passages": curve["corpus"]["passages"]})

    def evaluate(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.evaluate.compare import evaluate_run

        evaluate_run(run_dir, passages, config, context)
        return StageResult([RunLayout(run_dir).relative(RunLayout(run_dir).eval_results)])

    def report(run_dir: Path, settings, inputs) -> StageResult:
        from corpustune.report import write_report
        from corpustune.report.collect import collect_report_data

        layout = RunLayout(run_dir)
        write_report(run_dir, collect_report_data(run_dir, config, by_id))
        return StageResult([layout.relative(layout.report_html), layout.relative(layout.report_markdown)])

    folders = RunLayout(".")
    # a user's type file or example-queries file edited in place changes the prompts, not the settings
    from corpustune.generate.types import configured_types
    query_types = {"query_types": ",".join(t.fingerprint() for t in configured_types(config.generate))}
    training = config.model_dump(mode="json", include={"train"})
    ablating = config.model_dump(mode="json", include={"train", "ablation"})
    # the few-shot examples the answerable test looks for come from these generation settings
    selecting_fields = {"train": True, "select": True, "evaluate": True,
                        "generate": {"types", "few_shot_count", "seed"}, "mine": {"bm25_language"}}
    if config.select.judge == "teacher":  # the teachers grade the held-out queries
        selecting_fields["score"] = {"teachers", "ensemble_normalization"}
    selecting = config.model_dump(mode="json", include=selecting_fields)
    evaluation = config.model_dump(mode="json", include={"train", "ablation", "evaluate", "select"})
    human = corpus | human_split_hashes(config)
    return [
        Stage("generate", generate, config.generate, inputs=corpus | query_types, folder=folders.relative(folders.queries_dir)),
        Stage("mine", mine, config.mine, after=("generate",), inputs=corpus,
              folder=folders.relative(folders.candidates_dir)),
        Stage("score", score, config.score, after=("mine",), inputs=corpus, folder=folders.relative(folders.scores_dir)),
        Stage("train", train, training, after=("score", "generate"), inputs=corpus,
              folder=folders.relative(folders.train_dir)),
        Stage("ablation", ablation, ablating, after=("score", "generate"), inputs=corpus,
              folder=folders.relative(folders.ablation_dir)),
        Stage("select", select, selecting, after=("train", "generate"), inputs=human,
              folder=folders.relative(folders.select_dir)),
        Stage("evaluate", evaluate, evaluation, after=("select", "ablation", "generate"), inputs=human,
              folder=folders.relative(folders.eval_dir)),
        Stage("report", report, None, after=("evaluate", "select", "train", "ablation", "score", "mine", "generate"),
              folder=folders.relative(folders.report_files)),
    ]
