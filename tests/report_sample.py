"""A ReportData with every section filled, including hostile text, for the report tests."""

from __future__ import annotations

from corpustune.report import (DevPoint, EvalSet, FilterCount, ModelInfo, QueryExample, ReportData, StageTiming,
                               TrainingCurves, TrainPoint)

HOSTILE = '<img src=x onerror="document.title=\'pwned\'"> a | b </td><script>document.title="pwned"</script>'
TYPES = ("question", "claim", "keywords")


def _results(shift: float) -> dict[str, dict[str, float]]:
    arms = {"base": 0.0, "tuned": 0.03, "infonce": -0.01, "listwise": 0.025, "combined": 0.03}
    return {arm: {"nDCG@10": 0.6 + shift + delta, "R@100": 0.9 + shift / 4 + delta / 3} for arm, delta in arms.items()}


def sample_report_data(model_path: str = "runs/demo/model") -> ReportData:
    evaluations = [EvalSet(name="scifact test", source="human", num_queries=300, results=_results(0.045))]
    evaluations += [EvalSet(name="held-out synthetic", source="synthetic", query_type=kind, num_queries=100,
                            results=_results(0.02 * index)) for index, kind in enumerate(TYPES)]
    training = [TrainingCurves(arm=arm, best="epoch 5",
                               train=[TrainPoint(step=s, train_loss=2.0 / (1 + s) + offset) for s in range(40)],
                               dev=[DevPoint(epoch=e, dev_loss=1.0 / e + offset) for e in range(1, 6)])
                for arm, offset in (("combined", 0.0), ("infonce", 0.2), ("listwise", 0.1))]
    filters = [FilterCount(stage="generate", filter="empty or unparsable", query_type=kind, kept=95, dropped=5)
               for kind in TYPES]
    filters += [FilterCount(stage="mine", filter="source passage not in top-20", kept=250, dropped=35),
                FilterCount(stage="score", filter="teacher does not rank source first", kept=200, dropped=50),
                FilterCount(stage="score", filter="top score below 25th percentile", kept=150, dropped=50)]
    examples = [QueryExample(type=kind, text=f"an example {kind} query", passage_title="Aspirin and the heart",
                             passage_id="d1") for kind in TYPES]
    examples.append(QueryExample(type="question", text=HOSTILE, passage_title=HOSTILE))
    timings = [StageTiming(stage=name, seconds=seconds) for name, seconds in
               (("generate", 900.5), ("mine", 61.0), ("score", 300.0), ("train", 4000.0), ("evaluate", 12.5))]
    return ReportData(dataset="scifact", settings={"student": "minilm", "note": HOSTILE}, evaluations=evaluations,
                      training=training, filters=filters, examples=examples, timings=timings,
                      model=ModelInfo(path=model_path, base_model="minilm"), notes=[HOSTILE])
