"""Selection and evaluation of a run: every model is loaded with the student's settings."""

from __future__ import annotations

import json

from corpustune.config import EvaluateConfig, RunConfig
from corpustune.data.corpus import CorpusSpec
from corpustune.evaluate.compare import evaluate_run
from corpustune.evaluate.publish import select_run
from corpustune.retrieve import encode, search
from corpustune.train.config import TrainConfig


def test_every_arm_loads_with_the_students_trust_remote_code(tmp_path, tiny_passages, tiny_biencoder_path, monkeypatch):
    from sentence_transformers import SentenceTransformer

    monkeypatch.setenv("CORPUSTUNE_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    (data / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "coffee and the liver"}) + "\n")
    for split in ("test", "dev"):
        (data / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td5\t1\n")
    loaded = []

    def spy_loader(name, **options):
        # the trained arms do not exist here: every arm gets the tiny model, the call is what is checked
        loaded.append((name, options.get("trust_remote_code")))
        return SentenceTransformer(str(tiny_biencoder_path), device="cpu")

    monkeypatch.setattr(search, "load_encoder", spy_loader)
    monkeypatch.setattr(encode, "load_encoder", spy_loader)
    run = tmp_path / "run"
    config = RunConfig(
        data=CorpusSpec(path=data),
        train=TrainConfig(model=str(tiny_biencoder_path), loss="combined", trust_remote_code=True),
        ablation=("infonce",),
        evaluate=EvaluateConfig(heldout=False),
    )
    select_run(run, tiny_passages, config)
    results = evaluate_run(run, tiny_passages, config)
    assert loaded == [(str(tiny_biencoder_path), True), (str(run / "train" / "combined" / "model"), True),
                      (str(run / "ablation" / "infonce" / "model"), True)]
    assert set(results["sets"][0]["results"]) == {"base", "tuned", "published", "infonce"}
