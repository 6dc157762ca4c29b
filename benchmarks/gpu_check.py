"""The device check of corpustune's GPU path, prepared here and run in one call on a GPU machine.

`prepare` (on this machine) builds the carry folder: a run's scored lists (`RUN/scores/scores.jsonl`
cut to the list size, with the query texts of `RUN/queries/queries.jsonl`), the BEIR corpus they
were mined from with its test queries and qrels, and the student saved in bf16 (MiniLM: 45 MB
instead of 91 MB in fp32, so that the folder fits the device machine's 64 MiB carry limit). It
prints the folder's size together with the repository's tracked files and carried wheels.

`check` (on the GPU machine, through benchmarks/gpu_check.sh) runs the project's own code:

1. throughput: `Trainer.step` (listwise KL + 0.1 InfoNCE, lists of 20, gradient caching forced)
   at each `--sizes` queries per step; steps/s, passage slots/s, distinct passages/s, peak GPU
   memory and model FLOP utilization against the GPU's dense bf16 peak (formula and peak table in
   benchmarks/_device_figures.py); the clock is read after `torch.cuda.synchronize`;
2. resume: a run of `--resume-steps` steps straight through, and the same run in a child process
   killed (SIGKILL) after the step past its checkpoint, then resumed here by a new `Trainer` from
   that checkpoint (weights and optimizer loaded with `map_location` on the device, every RNG
   restored); with dropout `--resume-dropout` the final weights must agree within
   `--resume-tolerance` (relative L2 over all weights; 0 means bit for bit); deterministic
   algorithms are on for this part (`CUBLAS_WORKSPACE_CONFIG` comes from the wrapper);
3. evaluate: a tuned model (`--tune-epochs` at `--tune-queries` per step, dev split by source
   passage) and the base model each encode the carried corpus (timed, passages/s) and search the
   test queries; nDCG@10 and R@100 of both;
4. teacher: `CrossEncoderTeacher` on the device scores the pairs of the first `--teacher-lists`
   lists (pairs/s over distinct pairs). The carry limit leaves no room for a real cross-encoder,
   so the script builds one from the student's own backbone with a fresh one-logit head: its
   scores mean nothing, its speed is that of a MiniLM-L6 cross-encoder at these lengths. The
   onnxruntime providers present are printed.

With `--device cpu`, a tiny model and tiny data the same code runs in seconds (tests/test_gpu_check.py).

    PYTHONPATH=. python benchmarks/gpu_check.py prepare --run RUN --beir ../shared/data/scifact --out .gpucheck
    PYTHONPATH=. python benchmarks/gpu_check.py wheels        # pydantic, ir-measures and their needs into .whl/
    bash benchmarks/gpu_check.sh                               # on the GPU machine; log and JSON under $OUT
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _device_figures import (  # noqa: E402
    EncoderShape,
    bf16_peak_tflops,
    encoder_shape,
    step_flops,
    utilization,
    weight_difference,
)

from corpustune.data.atomic import write_json_atomic, write_jsonl_atomic  # noqa: E402
from corpustune.data.beir import load_split, read_queries, write_qrels, write_queries  # noqa: E402
from corpustune.data.corpus import CorpusSpec, read_passages  # noqa: E402
from corpustune.data.records import Passage, ScoredList  # noqa: E402
from corpustune.errors import InputError  # noqa: E402
from corpustune.hardware import default_tokens_per_batch, inference_dtype, synchronize  # noqa: E402
from corpustune.layout import RunLayout  # noqa: E402
from corpustune.models import resolve_model  # noqa: E402
from corpustune.parallel import Context  # noqa: E402
from corpustune.train.batching import Example, load_scored_examples, make_batch, split_by_source  # noqa: E402
from corpustune.train.checkpoint import latest_checkpoint  # noqa: E402
from corpustune.train.config import TrainConfig  # noqa: E402
from corpustune.train.trainer import Trainer  # noqa: E402

CARRY_LIMIT = 64 * 2**20  # bytes: the device machine's limit on everything that travels
REPO = Path(__file__).resolve().parents[1]
# Packages the device image lacks that the check imports, with this environment's versions.
WHEELS = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions", "ir-measures",
          "pytrec-eval-terrier")


# -- prepare (this machine) ------------------------------------------------------------------


def save_bf16(source: str, target: Path) -> Path:
    """Save the sentence-transformers model `source` (alias, path or hub id) to `target` in bf16."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(source, "embedding"), device="cpu")
    model.to(torch.bfloat16)
    shutil.rmtree(target, ignore_errors=True)
    model.save(str(target), create_model_card=False)
    return target


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def tracked_bytes(repo: Path) -> int:
    """Bytes of the repository's tracked files (what travels besides the carried folders)."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=True).stdout
    return sum((repo / n).stat().st_size for n in names.decode().split("\0") if n and (repo / n).is_file())


def prepare(run: Path, beir: Path, out: Path, *, list_size: int, model: str | None) -> dict:
    """Write the carry folder `out` (run/, beir/, model/); returns what it holds and its size."""
    passages = {p.id: p for p in read_passages(CorpusSpec(path=beir))}
    examples, report = load_scored_examples(run, passages, list_size)  # every error names file and line
    if not examples:
        raise InputError(f"{RunLayout(run).scores_file} holds no usable list ({report.summary()})")
    short = sum(len(e.passage_ids) < list_size for e in examples)
    if short == len(examples):
        raise InputError(
            f"{RunLayout(run).scores_file}: every list is shorter than {list_size} passages (the longest has "
            f"{max(len(e.passage_ids) for e in examples)}); mine and score the run again with "
            f"`--set mine.list_size={list_size}` (the laptop preset mines lists of 8), or pass a smaller --list-size"
        )
    layout, carried = RunLayout(run), RunLayout(out / "run")
    queries = read_queries(layout.queries_file)
    write_jsonl_atomic(carried.scores_file, [
        ScoredList(e.query_id, e.passage_ids[0], e.passage_ids, e.teacher_scores).to_json() for e in examples
    ])
    write_queries(carried.queries_file, [queries[e.query_id] for e in examples])
    if layout.heldout_qrels.exists():  # keeps the leak check of load_scored_examples working there
        carried.qrels_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(layout.heldout_qrels, carried.heldout_qrels)
    test_queries, qrels = load_split(beir, "test")
    (out / "beir" / "qrels").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(beir / "corpus.jsonl", out / "beir" / "corpus.jsonl")
    write_queries(out / "beir" / "queries.jsonl", [test_queries[q] for q in qrels if q in test_queries])
    write_qrels(out / "beir" / "qrels" / "test.tsv", qrels)
    if model is not None:
        save_bf16(model, out / "model")
    wheels = REPO / ".whl"
    sizes = {
        "carry folder": folder_bytes(out),
        "tracked files": tracked_bytes(REPO),
        ".whl": folder_bytes(wheels) if wheels.is_dir() else 0,
    }
    summary = {"lists": len(examples), "shorter lists": short, "skipped": report.summary(), "test queries": len(qrels),
               "bytes": sizes}
    total = sum(sizes.values())
    print(f"{out}: {report.summary()}; {short:,} lists shorter than {list_size} (trained as they are); "
          f"{len(passages):,} passages, {len(qrels):,} test queries")
    print("  " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items()) + f"; total {total / 2**20:.1f} MiB"
          f" of the {CARRY_LIMIT / 2**20:.0f} MiB limit")
    if total >= CARRY_LIMIT:
        raise InputError(f"{out}: {total / 2**20:.1f} MiB would travel, over the {CARRY_LIMIT / 2**20:.0f} MiB limit; "
                         "pass a run with fewer lists or a smaller --list-size")
    return summary


def download_wheels(target: Path) -> None:
    """pip-download the `WHEELS` at this environment's versions for the device image (CPython 3.12)."""
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    platforms = [a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
                    "3.12", "--implementation", "cp", *platforms, "-d", str(target), *pins], check=True)


# -- check (the device machine) --------------------------------------------------------------


def device_description(device: torch.device) -> tuple[str, float | None]:
    """(name of the device, its dense bf16 peak in TFLOP/s or None)."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return name, bf16_peak_tflops(name)
    from corpustune.hardware import cpu_description

    return f"CPU: {cpu_description()}", None


def step_examples(examples: Sequence[Example], size: int, seed: int) -> list[Example]:
    """`size` examples for one step: a seeded shuffle, repeated when the run has fewer lists."""
    order = np.random.default_rng(seed).permutation(len(examples))
    return [examples[order[i % len(examples)]] for i in range(size)]


def student_shape(trainer: Trainer) -> EncoderShape:
    backbone = trainer.model[0].auto_model
    return encoder_shape(backbone, backbone.config.num_hidden_layers, backbone.config.hidden_size)


def step_lengths(trainer: Trainer, examples: Sequence[Example]) -> np.ndarray:
    """Real tokens of every text one step encodes: its queries and its distinct passages."""
    batch = make_batch(examples)
    passages = [trainer.passage_texts[p] for p in batch.passage_ids]
    return np.concatenate([trainer.encoder.lengths(batch.query_texts, trainer.query_side),
                           trainer.encoder.lengths(passages, trainer.passage_side)])


@dataclass(frozen=True)
class Throughput:
    queries_per_step: int
    distinct_passages: int
    passage_slots: int
    tokens: int
    seconds_per_step: float  # median
    steps_per_second: float
    slots_per_second: float
    passages_per_second: float  # distinct passages encoded (and trained on) per second
    tflops: float
    mfu: float | None
    peak_memory_gib: float | None
    tokenize_seconds: float  # host time of one tokenization of the step's texts (a step tokenizes twice)


def throughput(config: TrainConfig, examples, passages, work: Path, device: torch.device, *, steps: int,
               peak: float | None, profile: Path | None = None) -> Throughput:
    """Median of `steps` timed `Trainer.step` calls on one fixed step, after one warm-up step; with
    `profile`, one more step under torch.profiler, its operator table written there."""
    chosen = step_examples(examples, config.queries_per_step, config.seed)
    trainer = Trainer(config, chosen, [], passages, work, context=Context(device=device), show_progress=False)
    started = time.perf_counter()
    lengths = step_lengths(trainer, chosen)
    tokenize_seconds = time.perf_counter() - started
    flops = step_flops(lengths, student_shape(trainer), grad_cache=bool(config.grad_cache))
    result = trainer.step(chosen)  # warm-up: kernels chosen, memory pools grown
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps):
        synchronize(device)
        started = time.perf_counter()
        trainer.step(chosen)
        synchronize(device)
        times.append(time.perf_counter() - started)
    seconds = statistics.median(times)
    memory = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    if profile is not None:
        profile_step(trainer, chosen, device, profile)
    del trainer
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return Throughput(
        config.queries_per_step, result.distinct_passages, result.passage_slots, int(lengths.sum()), seconds,
        1 / seconds, result.passage_slots / seconds, result.distinct_passages / seconds, flops / seconds / 1e12,
        utilization(flops, seconds, peak), memory, tokenize_seconds,
    )


def profile_step(trainer: Trainer, chosen: Sequence[Example], device: torch.device, path: Path) -> None:
    """One step under torch.profiler: its operators by self device time (CPU time on a CPU) to `path`
    (what holds the step back when the MFU is low)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as profiler:
        trainer.step(chosen)
        synchronize(device)
    key = "self_device_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = profiler.key_averages().table(sort_by=key, row_limit=25)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"one step of {len(chosen):,} queries\n{table}")


@dataclass(frozen=True)
class ResumeCheck:
    steps: int
    resumed_from: int
    killed_after: int
    max_abs: float
    relative_l2: float
    tolerance: float
    equal: bool


def resume_config(config: TrainConfig, steps: int) -> tuple[TrainConfig, int]:
    """The resume runs' settings (one epoch of `steps` steps, a checkpoint halfway) and the step
    after which the run is killed: the one after the checkpoint, so that its work is lost."""
    every = max(1, steps // 2)
    if every + 1 >= steps:
        raise InputError(f"--resume-steps {steps}: at least 3 steps are needed to kill a run after its checkpoint")
    return config.model_copy(update={"epochs": 1, "checkpoint_every_steps": every}), every + 1


def killed_run(config: TrainConfig, carry: Path, out: Path, device: torch.device, kill_at: int, steps: int) -> None:
    """(In a child process.) Train the resume run and SIGKILL this process after step `kill_at`."""
    passages = {p.id: p for p in read_passages(CorpusSpec(path=carry / "beir"))}
    examples, _ = load_scored_examples(carry / "run", passages, config.list_size)
    chosen = step_examples(examples, steps * config.queries_per_step, config.seed)

    def kill(trainer: Trainer, _result) -> None:
        if trainer.state.global_step == kill_at:
            synchronize(device)  # the step's device work is done; the checkpoint before it is on disk
            os.kill(os.getpid(), signal.SIGKILL)

    torch.use_deterministic_algorithms(True, warn_only=True)
    Trainer(config, chosen, [], passages, out, context=Context(device=device), callbacks=[kill],
            show_progress=False).train(resume=False)


def resume_check(config: TrainConfig, examples, passages, carry: Path, work: Path, device: torch.device, *,
                 steps: int, tolerance: float) -> ResumeCheck:
    """Train `steps` steps straight through; train the same run in a child process that is killed
    (SIGKILL) one step after its checkpoint; resume it here from the checkpoint; compare the final
    weights."""
    config, kill_at = resume_config(config, steps)
    chosen = step_examples(examples, steps * config.queries_per_step, config.seed)
    child = subprocess.run(
        [sys.executable, __file__, "killed-run", "--config", config.model_dump_json(), "--carry", str(carry),
         "--out", str(work / "resumed"), "--device", str(device), "--kill-at", str(kill_at), "--steps", str(steps),
         "--threads", str(torch.get_num_threads())],  # CPU kernels sum in another order on other thread counts
        capture_output=True, text=True, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))},
    )
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the run to kill ended with status {child.returncode}, not SIGKILL:\n"
                           f"{child.stderr[-3000:]}")
    context = Context(device=device)
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        straight = Trainer(config, chosen, [], passages, work / "straight", context=context, show_progress=False)
        straight.train(resume=False)
        expected = {k: v.detach().cpu().clone() for k, v in straight.model.state_dict().items()}
        del straight
        # the checkpoint the killed run left (the resumed log holds each step once, so it cannot tell)
        left = latest_checkpoint(work / "resumed" / "checkpoints")
        resumed_from = int(left.name.removeprefix("checkpoint-")) if left is not None else 0
        resumed = Trainer(config, chosen, [], passages, work / "resumed", context=context, show_progress=False)
        state = resumed.train(resume=True)
        difference = weight_difference(expected, resumed.model.state_dict())
    finally:
        torch.use_deterministic_algorithms(deterministic)
    logged = [json.loads(line)["step"] for line in (work / "resumed" / "log.jsonl").read_text().splitlines()]
    if logged != list(range(1, steps + 1)):
        raise RuntimeError(f"the resumed run's log holds steps {logged}, not each of 1..{steps} once")
    if state.global_step != steps:
        raise RuntimeError(f"the resumed run ended at step {state.global_step}, not {steps}")
    return ResumeCheck(steps, resumed_from, kill_at, difference.max_abs, difference.relative_l2, tolerance,
                       difference.within(tolerance))


def tune(config: TrainConfig, examples, passages, work: Path, device: torch.device) -> tuple[Path, float, int]:
    """Train the tuned model (dev split by source passage); (its folder, seconds, optimizer steps)."""
    train, dev = split_by_source(examples, config.dev_fraction, config.seed)
    started = time.perf_counter()
    trainer = Trainer(config, train, dev, passages, work / "tune", model_dir=work / "tuned",
                      context=Context(device=device), show_progress=False)
    state = trainer.train(resume=False)
    seconds = time.perf_counter() - started
    del trainer
    return work / "tuned", seconds, state.global_step


@dataclass(frozen=True)
class Evaluation:
    model: str
    ndcg_at_10: float
    recall_at_100: float
    encode_seconds: float
    passages_per_second: float
    search_seconds: float


def evaluate(name: str, folder: Path, passages: list[Passage], beir: Path, device: torch.device,
             precision: str) -> Evaluation:
    """Encode the corpus with the model in `folder` on `device` (timed) and score the test queries."""
    from corpustune.evaluate.retrieval import evaluate_queries
    from corpustune.retrieve.encode import encode, load_encoder
    from corpustune.retrieve.search import DenseRetriever, DenseSettings

    queries, qrels = load_split(beir, "test")
    model = load_encoder(str(folder), device=str(device))
    model.to(inference_dtype(precision, device))  # base (saved in bf16) and tuned (fp32) computed alike
    settings = DenseSettings(model=name, tokens_per_batch=default_tokens_per_batch(device))
    encode(model, [p.full_text() for p in passages[:64]], tokens_per_batch=settings.tokens_per_batch)  # warm-up
    started = time.perf_counter()
    retriever = DenseRetriever(passages, settings, model=model, cache=None)  # encodes the whole corpus
    encoded = time.perf_counter()
    result = evaluate_queries(retriever, queries, qrels, depth=100, measures=("nDCG@10", "R@100"))
    searched = time.perf_counter()
    return Evaluation(name, result.metrics["nDCG@10"], result.metrics["R@100"], encoded - started,
                      len(passages) / (encoded - started), searched - encoded)


def build_cross_encoder(student: Path, target: Path, seed: int) -> Path:
    """A one-logit cross-encoder on the student's backbone (fresh seeded head) with its tokenizer."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    modules = json.loads((student / "modules.json").read_text())
    backbone = student / modules[0]["path"]
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(str(backbone), num_labels=1, dtype=torch.float32)
    model.save_pretrained(str(target))
    AutoTokenizer.from_pretrained(str(backbone)).save_pretrained(str(target))
    return target


@dataclass(frozen=True)
class TeacherSpeed:
    pairs: int
    distinct_pairs: int
    seconds: float
    pairs_per_second: float
    dtype: str
    onnx_providers: list[str]


def teacher_speed(student: Path, examples, passages, work: Path, device: torch.device, *, lists: int,
                  precision: str, seed: int) -> TeacherSpeed:
    """Score the pairs of the first `lists` lists with `CrossEncoderTeacher` on `device`, after a warm-up."""
    from corpustune.teach.base import unique_pairs
    from corpustune.teach.cross_encoder import CrossEncoderTeacher

    try:
        import onnxruntime

        providers = list(onnxruntime.get_available_providers())
    except ImportError:
        providers = []
    teacher = CrossEncoderTeacher(str(build_cross_encoder(student, work / "cross-encoder", seed)),
                                  device=str(device), precision=precision)
    texts = {p.id: p.full_text() for p in passages.values()}
    pairs = [(e.query_text, texts[p]) for e in examples[:lists] for p in e.passage_ids]
    teacher.score(pairs[: min(len(pairs), 64)])  # warm-up
    started = time.perf_counter()
    scores = teacher.score(pairs)  # returns host numpy: the device work is done
    seconds = time.perf_counter() - started
    if not np.isfinite(scores).all():
        raise RuntimeError("the cross-encoder returned non-finite scores")
    distinct = len(unique_pairs(pairs)[0])
    return TeacherSpeed(len(pairs), distinct, seconds, distinct / seconds, str(teacher.dtype), providers)


def train_config(args, model: Path, queries_per_step: int, **update) -> TrainConfig:
    """The paper's loss and lists (listwise KL + 0.1 InfoNCE, lists of `--list-size`) at this step size."""
    return TrainConfig(model=str(model), loss="combined", list_size=args.list_size, queries_per_step=queries_per_step,
                       grad_cache=True, chunk_tokens=args.chunk_tokens, precision=args.precision,
                       passage_max_tokens=args.passage_max_tokens, **{"epochs": 1, **update})


def check(args) -> dict:
    """Run the four parts; print a table per part and return every figure."""
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda but torch sees no GPU; pass --device cpu for the rehearsal")
    carry, work = Path(args.carry), Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    model = Path(args.model) if args.model else carry / "model"
    for needed in (carry / "run", carry / "beir", model):
        if not needed.exists():
            raise InputError(f"{needed} not found; make the carry folder with `gpu_check.py prepare`")
    name, peak = device_description(device)
    print(f"device: {name}; dense bf16 peak {peak if peak else 'unknown'} TFLOP/s; torch {torch.__version__}")
    started = time.perf_counter()
    corpus = list(read_passages(CorpusSpec(path=carry / "beir")))
    passages = {p.id: p for p in corpus}
    examples, report = load_scored_examples(carry / "run", passages, args.list_size)
    widths = [len(e.passage_ids) for e in examples]
    print(f"data: {report.summary()}; passages per list {min(widths)} to {max(widths)}, mean {np.mean(widths):.1f}; "
          f"{len(corpus):,} passages in the corpus")
    figures: dict = {"device": name, "bf16_peak_tflops": peak, "torch": torch.__version__, "lists": len(examples)}

    print("\nthroughput (Trainer.step, listwise KL + 0.1 InfoNCE, gradient caching):")
    print(f"{'queries/step':>12} {'distinct':>8} {'tokens':>10} {'s/step':>8} {'steps/s':>8} {'slots/s':>9} "
          f"{'passages/s':>10} {'TFLOP/s':>8} {'MFU':>6} {'peak GiB':>8} {'tokenize s':>10}")
    rows = []
    for size in args.sizes:
        profile = Path(args.out or work) / "profile.txt" if args.profile and size == args.sizes[-1] else None
        row = throughput(train_config(args, model, size), examples, passages, work / f"size-{size}", device,
                         steps=args.steps, peak=peak, profile=profile)
        rows.append(row)
        mfu = f"{row.mfu:.1%}" if row.mfu is not None else "n/a"
        memory = f"{row.peak_memory_gib:.1f}" if row.peak_memory_gib is not None else "n/a"
        print(f"{row.queries_per_step:>12,} {row.distinct_passages:>8,} {row.tokens:>10,} {row.seconds_per_step:>8.3f} "
              f"{row.steps_per_second:>8.2f} {row.slots_per_second:>9,.0f} {row.passages_per_second:>10,.0f} "
              f"{row.tflops:>8.2f} {mfu:>6} {memory:>8} {row.tokenize_seconds:>10.3f}")
    figures["throughput"] = [asdict(r) for r in rows]
    if profile is not None:
        print(f"\nprofile ({profile}), first rows:\n" + "\n".join(profile.read_text().splitlines()[:16]))

    resume = resume_check(train_config(args, model, args.resume_queries, dropout=args.resume_dropout), examples,
                          passages, carry, work / "resume", device, steps=args.resume_steps,
                          tolerance=args.resume_tolerance)
    print(f"\nresume: {resume.steps} steps straight vs killed after step {resume.killed_after} and resumed "
          f"from the checkpoint of step {resume.resumed_from} (dropout {args.resume_dropout:g}): "
          f"max |diff| {resume.max_abs:.3e}, relative L2 "
          f"{resume.relative_l2:.3e} (tolerance {resume.tolerance:g}): {'EQUAL' if resume.equal else 'DIFFERENT'}")
    figures["resume"] = asdict(resume)

    tuned, tune_seconds, tune_steps = tune(
        train_config(args, model, args.tune_queries, epochs=args.tune_epochs), examples, passages, work, device)
    print(f"\ntuned: {tune_steps} steps of {args.tune_queries} queries in {tune_seconds:.1f} s "
          "(with dev loss and saving)")
    print(f"{'model':>6} {'nDCG@10':>8} {'R@100':>7} {'encode s':>9} {'passages/s':>10} {'search s':>9}")
    evaluations = []
    for label, folder in (("base", model), ("tuned", tuned)):
        row = evaluate(label, folder, corpus, carry / "beir", device, args.precision)
        evaluations.append(row)
        print(f"{row.model:>6} {row.ndcg_at_10:>8.4f} {row.recall_at_100:>7.4f} {row.encode_seconds:>9.2f} "
              f"{row.passages_per_second:>10,.0f} {row.search_seconds:>9.2f}")
    figures["tune"] = {"seconds": tune_seconds, "steps": tune_steps, "queries_per_step": args.tune_queries}
    figures["evaluation"] = [asdict(e) for e in evaluations]

    teacher = teacher_speed(model, examples, passages, work, device, lists=args.teacher_lists,
                            precision=args.precision, seed=args.seed)
    print(f"\nteacher: torch cross-encoder ({teacher.dtype}) {teacher.distinct_pairs:,} distinct pairs of "
          f"{teacher.pairs:,} in {teacher.seconds:.2f} s: {teacher.pairs_per_second:,.0f} pairs/s; onnxruntime "
          f"providers: {', '.join(teacher.onnx_providers) or 'onnxruntime not installed'}")
    figures["teacher"] = asdict(teacher)
    figures["seconds"] = time.perf_counter() - started
    print(f"\nwhole check: {figures['seconds']:.0f} s")
    if args.out:
        write_json_atomic(Path(args.out) / "gpu_check.json", figures)
    return figures


def sizes(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive query counts separated by commas, "
                                         "e.g. 256,1024,4096")
    return values


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = top.add_subparsers(dest="command", required=True)
    make = commands.add_parser("prepare", help="build the carry folder from a run folder and its BEIR folder")
    make.add_argument("--run", type=Path, required=True, help="run folder with scores/scores.jsonl and queries/")
    make.add_argument("--beir", type=Path, required=True, help="the BEIR folder the run's corpus came from")
    make.add_argument("--out", type=Path, default=REPO / ".gpucheck")
    make.add_argument("--list-size", type=int, default=20)
    make.add_argument("--model", default="minilm", help="student to carry in bf16 (alias, path or hub id)")
    fetch = commands.add_parser("wheels", help="download the wheels the device image lacks into .whl/")
    fetch.add_argument("--out", type=Path, default=REPO / ".whl")
    child = commands.add_parser("killed-run", help="(used by check) the resume run that kills itself")
    child.add_argument("--config", required=True, help="TrainConfig as JSON")
    for name in ("--carry", "--out", "--device"):
        child.add_argument(name, required=True)
    child.add_argument("--kill-at", type=int, required=True)
    child.add_argument("--steps", type=int, required=True)
    child.add_argument("--threads", type=int, required=True, help="torch CPU threads, as in the parent")
    run = commands.add_parser("check", help="run the check (on the GPU machine; --device cpu rehearses)")
    run.add_argument("--carry", default=str(REPO / ".gpucheck"))
    run.add_argument("--model", help="student folder (default: CARRY/model)")
    run.add_argument("--device", default="cuda")
    run.add_argument("--sizes", type=sizes, default=[256, 1024, 4096], help="queries per step to time")
    run.add_argument("--steps", type=int, default=3, help="timed steps per size (median), after one warm-up")
    run.add_argument("--no-profile", dest="profile", action="store_false",
                     help="skip the torch.profiler step at the largest size")
    run.add_argument("--chunk-tokens", default="auto", help="padded tokens per encoder chunk (auto: the library's)")
    run.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"))
    run.add_argument("--list-size", type=int, default=20)
    run.add_argument("--passage-max-tokens", type=int, default=512)
    run.add_argument("--resume-queries", type=int, default=64)
    run.add_argument("--resume-steps", type=int, default=4)
    run.add_argument("--resume-dropout", type=float, default=0.1,
                     help="dropout of the resume runs: with it the resumed run must also restore the (CUDA) RNG "
                          "state exactly; the paper trains with 0")
    run.add_argument("--resume-tolerance", type=float, default=1e-6,
                     help="largest relative L2 difference of the final weights that counts as equal")
    run.add_argument("--tune-queries", type=int, default=64)
    run.add_argument("--tune-epochs", type=int, default=1)
    run.add_argument("--teacher-lists", type=int, default=500)
    run.add_argument("--seed", type=int, default=13)
    run.add_argument("--work", help="folder for checkpoints and models (default: a new temporary folder)")
    run.add_argument("--out", default=os.environ.get("OUT"), help="folder for gpu_check.json (default: $OUT)")
    return top


def main(argv: Sequence[str] | None = None) -> dict | None:
    args = parser().parse_args(argv)
    if args.command == "prepare":
        return prepare(args.run, args.beir, args.out, list_size=args.list_size, model=args.model)
    if args.command == "wheels":
        download_wheels(args.out)
        return None
    if args.command == "killed-run":
        torch.set_num_threads(args.threads)
        killed_run(TrainConfig.model_validate_json(args.config), Path(args.carry), Path(args.out),
                   torch.device(args.device), args.kill_at, args.steps)
        return None
    if args.chunk_tokens != "auto":
        args.chunk_tokens = int(args.chunk_tokens)
    return check(args)


if __name__ == "__main__":
    try:
        main()
    except InputError as error:  # bad input: one line and exit status 2, as the corpustune CLI does
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
