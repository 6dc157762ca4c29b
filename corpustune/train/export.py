"""Saving the student as a plain sentence-transformers folder with its prompts and a model card."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from corpustune.data.atomic import write_text_atomic
from corpustune.data.sealed import seal_folder


def save_student(model, folder: Path, *, query_prompt: str, passage_prompt: str, card: dict[str, Any],
                 sealed: bool = False) -> None:
    """Save `model` to `folder` (replacing it whole) so that `SentenceTransformer(folder)` loads it
    with no custom code and encodes with the training prompts (`prompt_name="query"`/`"document"`).
    `sealed`: add a `SEAL.json` of its files (`corpustune.data.sealed`), for a folder that a
    resumed run reads back."""
    model.prompts = {"query": query_prompt, "document": passage_prompt}
    partial = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save(str(partial), create_model_card=False)
    write_text_atomic(partial / "README.md", model_card(card, query_prompt, passage_prompt))
    if sealed:
        seal_folder(partial)
    old = folder.with_name(f".{folder.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    partial.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


_TRAINED = """Fine-tuned from `{base}` by corpustune on synthetic queries for one document
collection: listwise distillation (KL from teacher to student over each query's list) plus
InfoNCE with teacher-based false-negative masking (Tamber et al. 2025, arXiv 2505.19274)."""


def model_card(card: dict[str, Any], query_prompt: str, passage_prompt: str) -> str:
    """A README.md stating how the model was trained and on what (`card["summary"]` replaces the
    paragraph that says how, for a model that was not simply trained)."""
    settings = json.dumps(card.get("settings", {}), indent=2)
    data = "\n".join(f"| {k} | {v} |" for k, v in card.get("data", {}).items())
    history = "\n".join(
        f"| {h['epoch']} | {h['step']} | {h['dev_loss']:.5f} |" for h in card.get("history", []) if "dev_loss" in h
    )
    return f"""---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
base_model: {card.get("base_model", "")}
tags: [sentence-transformers, corpustune, listwise-distillation]
---

# {card.get("title", "corpustune student")}

{card.get("summary", _TRAINED.format(base=card.get("base_model", "")))}

```python
from sentence_transformers import SentenceTransformer
model = SentenceTransformer("path/to/this/folder")
queries = model.encode_query(["..."])        # prompt {query_prompt!r}
passages = model.encode_document(["..."])    # prompt {passage_prompt!r}
```

## Training data

| item | value |
|---|---|
{data}

## Dev loss

| epoch | step | dev loss |
|---|---|---|
{history}

## Settings

```json
{settings}
```
"""
