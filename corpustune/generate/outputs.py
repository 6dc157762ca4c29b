"""Clean and filter the logged completions and write the stage's files (all atomically).

The kept queries, the qrels `train` and `heldout` (query -> source passage, grade 1), one
held-out test set per type, the dropped queries with their reasons, per-type counts and the
settings that made them; the paths are `RunLayout`'s.
"""

from __future__ import annotations

from corpustune.data.atomic import write_json_atomic, write_jsonl_atomic
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query
from corpustune.generate.config import GenerateConfig
from corpustune.generate.postprocess import TypeStats, clean, parse_json_output, select
from corpustune.generate.prompts import pick_examples
from corpustune.generate.sampling import PassageSample, passage_types
from corpustune.generate.types import QueryType
from corpustune.layout import RunLayout


def query_id(passage_id: str, type_name: str, index: int) -> str:
    return f"{passage_id}:{type_name}:{index}"


def raw_outputs(passage_id: str, types: list[QueryType], records: dict, json_type: str) -> list[tuple[QueryType, int, str]]:
    """(type, index, raw text) of one passage for `types` (the passage's own), in type order;
    missing records give nothing."""
    found = []
    json_record = records.get((passage_id, json_type))
    if json_record is not None:
        parsed = [parse_json_output(raw, types) for raw in json_record["raw"]]
        for query_type in types:
            found += [(query_type, i, answer.get(query_type.name) or "") for i, answer in enumerate(parsed)]
        return found
    for query_type in types:
        record = records.get((passage_id, query_type.name))
        if record is not None:
            found += [(query_type, i, raw) for i, raw in enumerate(record["raw"])]
    return found


def example_text(query_type: QueryType, config: GenerateConfig, passage_id: str) -> str:
    """The few-shot passages and queries that the prompt of this (passage, type) showed, one per line."""
    picked = pick_examples(query_type, config.few_shot_count, config.seed, passage_id)
    return "\n".join(f"{e.passage}\n{e.query}" for e in picked)


def write_outputs(
    layout: RunLayout,
    sample: PassageSample,
    types: list[QueryType],
    records: dict,
    config: GenerateConfig,
    generator: str,
    prompt_version: str,
    json_type: str,
) -> dict:
    """Write every output file for the sampled passages; returns the stats written."""
    stats = {t.name: TypeStats() for t in types}
    heldout_stats = {t.name: TypeStats() for t in types}
    kept: list[Query] = []
    dropped: list[dict] = []
    train_qrels: dict[str, dict[str, int]] = {}
    heldout_qrels: dict[str, dict[str, int]] = {}
    missing = 0
    for passage in sample.passages:
        # only the passage's own types: the log may hold others from a run with other settings
        own = passage_types(passage, types, config, heldout=passage.id in sample.heldout_ids)
        outputs = raw_outputs(passage.id, own, records, json_type)
        missing += not outputs
        cleaned = [(query_type, clean(raw, query_type)) for query_type, _, raw in outputs]
        shown = [example_text(t, config, passage.id) for t, _, _ in outputs]
        verdicts = select(
            cleaned,
            passage.full_text(),
            examples=shown,
            copy_ngram=config.copy_ngram,
            copy_threshold=config.copy_threshold,
            near_duplicate_jaccard=config.near_duplicate_jaccard,
        )
        heldout = passage.id in sample.heldout_ids
        for (query_type, index, raw), verdict in zip(outputs, verdicts):
            (heldout_stats if heldout else stats)[query_type.name].add(verdict)
            qid = query_id(passage.id, query_type.name, index)
            if verdict.reason is not None:
                dropped.append({"_id": qid, "type": query_type.name, "source_id": passage.id,
                                "reason": verdict.reason, "text": verdict.text, "raw": raw})
                continue
            kept.append(Query(qid, verdict.text, query_type.name, passage.id, generator, prompt_version))
            (heldout_qrels if heldout else train_qrels)[qid] = {passage.id: 1}
    summary = {
        "passages": sample.summary(),
        "passages_without_output": missing,
        "queries": {"kept": len(kept), "dropped": len(dropped), "train": len(train_qrels), "heldout": len(heldout_qrels)},
        "types": {name: s.to_json() for name, s in stats.items()},
        "heldout_types": {name: s.to_json() for name, s in heldout_stats.items()},
        "generator": generator,
        "prompt_version": prompt_version,
    }
    write_queries(layout.queries_file, kept)
    write_qrels(layout.train_qrels, train_qrels)
    write_qrels(layout.heldout_qrels, heldout_qrels)
    for query_type in types:
        of_type = {q.id: heldout_qrels[q.id] for q in kept if q.type == query_type.name and q.id in heldout_qrels}
        write_qrels(layout.heldout_type_qrels(query_type.name), of_type)
    write_jsonl_atomic(layout.dropped_queries, dropped)
    write_json_atomic(layout.generation_settings, config.model_dump(mode="json"))
    write_json_atomic(layout.query_stats, summary)
    return summary
