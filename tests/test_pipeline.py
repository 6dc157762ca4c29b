"""Stage mechanics: fingerprints, DONE markers, skipping, recompute-only-downstream, crash reruns."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from pydantic import BaseModel

from corpustune.errors import InputError
from corpustune.pipeline import Pipeline, Stage, StageResult, hash_path, load_config, read_done, save_config
from corpustune.pipeline.fingerprint import stage_fingerprint


class PowerSettings(BaseModel):
    power: int = 2
    label: str = "squares"  # does not change the output


def _toy_stages(data_file: Path, calls: Counter, n: int = 5, power: PowerSettings | None = None,
                fail: dict | None = None) -> list[Stage]:
    """source -> power -> total, each reading the previous stage's file from the run folder."""
    fail = fail if fail is not None else {}

    def source(run_dir, settings, inputs):
        calls["source"] += 1
        offset = int(data_file.read_text())
        numbers = [offset + i for i in range(settings["n"])]
        (run_dir / "source" / "numbers.json").write_text(json.dumps(numbers))
        return StageResult(["source/numbers.json"], {"numbers": len(numbers)})

    def raise_power(run_dir, settings, inputs):
        calls["power"] += 1
        folder = run_dir / "power"
        calls["power_saw_partial"] += (folder / "partial.log").exists()
        (folder / "partial.log").write_text("half done\n")
        if fail.pop("power", None) is not None:
            raise fail_error
        numbers = json.loads((run_dir / "source" / "numbers.json").read_text())
        (folder / "values.json").write_text(json.dumps([x ** settings.power for x in numbers]))
        return StageResult(["power/values.json"])

    def total(run_dir, settings, inputs):
        calls["total"] += 1
        values = json.loads((run_dir / "power" / "values.json").read_text())
        (run_dir / "total").mkdir(exist_ok=True)
        (run_dir / "total" / "total.txt").write_text(str(sum(values)))
        return StageResult(["total"], {"total": sum(values)})

    fail_error = fail.get("power")
    return [
        Stage("source", source, {"n": n}, inputs={"data": hash_path(data_file)}),
        Stage("power", raise_power, power or PowerSettings(), after=("source",)),
        Stage("total", total, None, after=("power",)),
    ]


@pytest.fixture
def data_file(tmp_path) -> Path:
    path = tmp_path / "data.txt"
    path.write_text("1")
    return path


def _run(run_dir, stages) -> list[str]:
    lines: list[str] = []
    Pipeline(run_dir, stages, echo=lines.append).run()
    return lines


def _total(run_dir: Path) -> int:
    return int((run_dir / "total" / "total.txt").read_text())


def test_first_run_computes_everything_and_records_hashes(tmp_path, data_file):
    run_dir, calls = tmp_path / "run", Counter()
    lines = _run(run_dir, _toy_stages(data_file, calls))
    assert calls == Counter(source=1, power=1, total=1)
    assert _total(run_dir) == sum(x ** 2 for x in range(1, 6))
    record = read_done(run_dir, "power")
    expected = hashlib.sha256((run_dir / "power" / "values.json").read_bytes()).hexdigest()
    assert record.outputs == {"power/values.json": expected}
    assert read_done(run_dir, "total").counts == {"total": 55}
    timings = json.loads((run_dir / "timings.json").read_text())
    assert [(t["stage"], t["status"]) for t in timings["stages"]] == [
        ("source", "done"), ("power", "done"), ("total", "done")]
    assert sum(1 for line in lines if " done " in line) == 3


def test_rerun_with_same_settings_skips_every_stage(tmp_path, data_file):
    run_dir, calls = tmp_path / "run", Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    lines = _run(run_dir, _toy_stages(data_file, calls))
    assert calls == Counter(source=1, power=1, total=1)
    assert len(lines) == 3 and all("skipped" in line for line in lines)
    timings = json.loads((run_dir / "timings.json").read_text())
    assert {t["status"] for t in timings["stages"]} == {"skipped"}


def test_changed_setting_reruns_its_stage_and_downstream_only(tmp_path, data_file):
    run_dir, calls = tmp_path / "run", Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    _run(run_dir, _toy_stages(data_file, calls, power=PowerSettings(power=3)))
    assert calls == Counter(source=1, power=2, total=2)
    assert _total(run_dir) == sum(x ** 3 for x in range(1, 6))
    _run(run_dir, _toy_stages(data_file, calls, n=3, power=PowerSettings(power=3)))
    assert calls == Counter(source=2, power=3, total=3)
    assert _total(run_dir) == sum(x ** 3 for x in range(1, 4))


def test_setting_that_leaves_outputs_identical_does_not_rerun_downstream(tmp_path, data_file):
    run_dir, calls = tmp_path / "run", Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    _run(run_dir, _toy_stages(data_file, calls, power=PowerSettings(label="renamed")))
    # Downstream inputs are the upstream *output* hashes, and those did not change.
    assert calls == Counter(source=1, power=2, total=1)


def test_changed_external_input_reruns_everything(tmp_path, data_file):
    run_dir, calls = tmp_path / "run", Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    data_file.write_text("10")
    _run(run_dir, _toy_stages(data_file, calls))
    assert calls == Counter(source=2, power=2, total=2)
    assert _total(run_dir) == sum(x ** 2 for x in range(10, 15))


def test_edited_or_deleted_output_makes_the_stage_rerun(tmp_path, data_file):
    run_dir, calls = tmp_path / "run", Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    (run_dir / "total" / "total.txt").write_text("0")
    _run(run_dir, _toy_stages(data_file, calls))
    assert calls == Counter(source=1, power=1, total=2)
    assert _total(run_dir) == 55
    (run_dir / "source" / "numbers.json").unlink()
    _run(run_dir, _toy_stages(data_file, calls))
    # Same numbers come back, so the stages below see unchanged inputs and stay skipped.
    assert calls == Counter(source=2, power=1, total=2)


@pytest.mark.parametrize("damage", ["edit", "delete"])
def test_a_stage_run_alone_refuses_upstream_outputs_changed_since_their_done_record(tmp_path, data_file, damage):
    """Issue 28 item 2: the edited (or deleted) upstream file is named, nothing is computed from
    it, and no DONE record would later vouch for lists made from it."""
    run_dir, calls = tmp_path / "run", Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    numbers = run_dir / "source" / "numbers.json"
    if damage == "edit":
        numbers.write_text(json.dumps([7, 2, 3, 4, 5]))
    else:
        numbers.unlink()
    shutil.rmtree(run_dir / "power")
    for stage in ("power", "total"):  # a direct and an indirect upstream
        with pytest.raises(InputError, match=rf"{re.escape(str(numbers))} .*after the source stage wrote it.*"
                                             rf"rerun the source stage.*delete .*DONE\.json"):
            Pipeline(run_dir, _toy_stages(data_file, calls)).run_stage(stage)
    assert calls == Counter(source=1, power=1, total=1)
    # `run` redoes the upstream stage and says why; what follows then sees the same numbers
    lines = _run(run_dir, _toy_stages(data_file, calls))
    assert f"{numbers} changed since DONE.json recorded it" in lines[0]
    assert calls == Counter(source=2, power=2, total=1) and _total(run_dir) == 55


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_stage_killed_midway_leaves_no_marker_and_reruns(tmp_path, data_file, error):
    run_dir, calls = tmp_path / "run", Counter()
    with pytest.raises(type(error)):
        _run(run_dir, _toy_stages(data_file, calls, fail={"power": error}))
    assert read_done(run_dir, "source") is not None
    assert not (run_dir / "power" / "DONE.json").exists()
    assert not (run_dir / "total").exists()
    timings = json.loads((run_dir / "timings.json").read_text())
    status = "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"
    assert [(t["stage"], t["status"]) for t in timings["stages"]] == [("source", "done"), ("power", status)]

    _run(run_dir, _toy_stages(data_file, calls))
    assert calls["source"] == 1 and calls["power"] == 2 and calls["total"] == 1
    assert calls["power_saw_partial"] == 1  # same settings: the partial work was kept for resuming
    assert _total(run_dir) == 55


def test_partial_work_from_other_settings_is_discarded(tmp_path, data_file):
    run_dir, calls = tmp_path / "run", Counter()
    with pytest.raises(RuntimeError):
        _run(run_dir, _toy_stages(data_file, calls, fail={"power": RuntimeError("boom")}))
    _run(run_dir, _toy_stages(data_file, calls, power=PowerSettings(power=3)))
    assert calls["power_saw_partial"] == 0
    assert _total(run_dir) == sum(x ** 3 for x in range(1, 6))


def test_fingerprint_is_canonical_and_sensitive():
    base = stage_fingerprint("s", "1", {"a": 1, "b": [1, 2]}, {"x": "h1", "y": "h2"})
    assert base == stage_fingerprint("s", "1", {"b": [1, 2], "a": 1}, {"y": "h2", "x": "h1"})
    payload = {"inputs": {"x": "h1", "y": "h2"}, "settings": {"a": 1, "b": [1, 2]}, "stage": "s", "version": "1"}
    reference = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert base == reference
    others = {stage_fingerprint("s", "1", {"a": 2, "b": [1, 2]}, {"x": "h1", "y": "h2"}),
              stage_fingerprint("s", "2", {"a": 1, "b": [1, 2]}, {"x": "h1", "y": "h2"}),
              stage_fingerprint("t", "1", {"a": 1, "b": [1, 2]}, {"x": "h1", "y": "h2"}),
              stage_fingerprint("s", "1", {"a": 1, "b": [1, 2]}, {"x": "h1", "y": "h3"})}
    assert base not in others and len(others) == 4
    assert stage_fingerprint("s", "1", PowerSettings(), {}) == stage_fingerprint(
        "s", "1", {"label": "squares", "power": 2}, {})


def test_folder_hash_tracks_content_and_names_but_not_temporaries(tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"abc")
    (folder / "sub" / "b.txt").write_text("b")
    first = hash_path(folder)
    (folder / ".a.bin.x1y2.tmp").write_bytes(b"partial")
    assert hash_path(folder) == first
    (folder / "sub" / "b.txt").rename(folder / "sub" / "c.txt")
    assert hash_path(folder) != first
    (folder / "sub" / "c.txt").rename(folder / "sub" / "b.txt")
    assert hash_path(folder) == first
    (folder / "a.bin").write_bytes(b"abd")
    assert hash_path(folder) != first
    with pytest.raises(FileNotFoundError):
        hash_path(tmp_path / "missing")


def test_config_is_saved_atomically_and_reads_back(tmp_path):
    class Config(BaseModel):
        student: str = "minilm"
        power: PowerSettings = PowerSettings()
        out: Path = Path("runs/x")

    path = save_config(tmp_path, Config())
    assert path == tmp_path / "config.yaml"
    assert load_config(tmp_path) == {"student": "minilm", "power": {"power": 2, "label": "squares"}, "out": "runs/x"}
    assert Config.model_validate(load_config(tmp_path)) == Config()
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]


@pytest.mark.parametrize("stages, message", [
    ([Stage("a", print), Stage("a", print)], "used twice"),
    ([Stage("a", print, after=("b",)), Stage("b", print)], "not an earlier stage"),
    ([Stage("a", print), Stage("b", print, folder="a")], "overlaps"),
    ([Stage("a", print, folder="x"), Stage("b", print, folder="x/y")], "overlaps"),
    ([Stage("a", print, folder="..")], "relative sub-folder"),
    ([Stage("a", print), Stage("b", print, after=("a",), inputs={"a": "h"})], "clash"),
])
def test_invalid_pipelines_are_rejected(tmp_path, stages, message):
    with pytest.raises(ValueError, match=message):
        Pipeline(tmp_path, stages)


KILLABLE_PIPELINE = '''
import os, signal, sys
from pathlib import Path
from corpustune.pipeline import Pipeline, Stage, StageResult

run_dir, kill_in = Path(sys.argv[1]), sys.argv[2]

def make(name, upstream):
    def stage(run_dir, settings, inputs):
        with open(run_dir / "calls.log", "a") as log:
            log.write(name + "\\n")
        previous = (run_dir / upstream / "out.txt").read_text() if upstream else ""
        (run_dir / name / "out.txt").write_text(previous + name)
        if name == kill_in:
            os.kill(os.getpid(), signal.SIGKILL)
        return StageResult([f"{name}/out.txt"])
    return stage

Pipeline(run_dir, [Stage("a", make("a", None)), Stage("b", make("b", "a"), after=("a",)),
                   Stage("c", make("c", "b"), after=("b",))]).run()
'''


def test_sigkill_midway_then_rerun_finishes_without_redoing_finished_stages(tmp_path):
    import os
    import subprocess
    import sys

    script, run_dir = tmp_path / "pipeline.py", tmp_path / "run"
    script.write_text(KILLABLE_PIPELINE)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    killed = subprocess.run([sys.executable, str(script), str(run_dir), "b"], env=env, capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert read_done(run_dir, "a") is not None and read_done(run_dir, "b") is None
    finished = subprocess.run([sys.executable, str(script), str(run_dir), "none"], env=env, capture_output=True,
                              text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    assert (run_dir / "calls.log").read_text().split() == ["a", "b", "b", "c"]
    assert (run_dir / "c" / "out.txt").read_text() == "abc"


def test_report_timings_come_from_the_run_and_keep_the_computed_time(tmp_path, data_file):
    from corpustune.report import stage_timings

    run_dir, calls = tmp_path / "run", Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    first = {t.stage: t.seconds for t in stage_timings(run_dir)}
    _run(run_dir, _toy_stages(data_file, calls))
    again = stage_timings(run_dir)
    assert [(t.stage, t.status) for t in again] == [("source", "skipped"), ("power", "skipped"), ("total", "skipped")]
    assert {t.stage: t.seconds for t in again} == first == {
        name: read_done(run_dir, name).seconds for name in ("source", "power", "total")}


def test_a_second_concurrent_run_is_refused(tmp_path, data_file):
    from corpustune.errors import InputError
    from tests.lock_holder import lock_held_elsewhere

    run_dir, calls = tmp_path / "run", Counter()
    with lock_held_elsewhere(run_dir):
        with pytest.raises(InputError, match="another corpustune process is writing"):
            _run(run_dir, _toy_stages(data_file, calls))
        with pytest.raises(InputError, match="another corpustune process is writing"):
            Pipeline(run_dir, _toy_stages(data_file, calls)).run_stage("source")
    assert calls == Counter()
    _run(run_dir, _toy_stages(data_file, calls))
    assert calls == Counter(source=1, power=1, total=1)


def test_the_lock_nests_within_one_process(tmp_path, data_file):
    from corpustune.pipeline.runner import run_lock

    run_dir, calls = tmp_path / "run", Counter()
    with run_lock(run_dir):
        _run(run_dir, _toy_stages(data_file, calls))
    assert calls == Counter(source=1, power=1, total=1)


def test_a_stage_that_fails_before_writing_leaves_no_folder(tmp_path):
    def load_a_model(run_dir, settings, inputs):
        raise RuntimeError("the model does not load")

    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError):
        Pipeline(run_dir, [Stage("generate", load_a_model, folder="queries")]).run()
    with pytest.raises(RuntimeError):
        Pipeline(run_dir, [Stage("generate", load_a_model, folder="queries")]).run_stage("generate")
    assert not (run_dir / "queries").exists()


@pytest.mark.parametrize("result, message", [(None, "must return a StageResult"),
                                             (StageResult(["../elsewhere"]), "inside the run folder")])
def test_bad_stage_results_fail_without_a_done_marker(tmp_path, result, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Pipeline(tmp_path, [Stage("a", lambda run_dir, settings, inputs: result)], echo=lambda line: None).run()
    assert read_done(tmp_path, "a") is None
