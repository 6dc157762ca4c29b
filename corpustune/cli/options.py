"""Options shared by several commands, and the one way every command resolves its settings."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from corpustune.data.corpus import CorpusFormat, CorpusSpec

DataPath = Annotated[
    Path,
    typer.Option("--data", help="Corpus: a BEIR folder, a .jsonl/.csv/.tsv/.parquet file, or a folder of .txt/.md files."),
]
OptionalDataPath = Annotated[
    Path | None,
    typer.Option("--data", help="Corpus: a BEIR folder, a .jsonl/.csv/.tsv/.parquet file, or a folder of .txt/.md "
                 "files (or data.path in --config)."),
]
RunFolder = Annotated[
    Path,
    typer.Option("--out", "--run", "--run-folder",
                 help="Run folder; re-running resumes it (under torchrun spell it --out: torchrun claims --run)."),
]
Preset = Annotated[str | None, typer.Option(help="laptop (offline, 2 CPU cores) or paper (GPU, hub models).")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="YAML file overriding any setting (see `corpustune config`).")]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="Override one setting, e.g. --set train.epochs=2.")]
Format = Annotated[str | None, typer.Option("--format", help="auto, beir, jsonl, csv, tsv, parquet or textdir.")]
IdField = Annotated[str | None, typer.Option("--id-field", help="Record field holding the id (default `_id`, else `id`).")]
TitleField = Annotated[str | None, typer.Option("--title-field", help="Record field holding the title (default title).")]
TextField = Annotated[str | None, typer.Option("--text-field", help="Record field holding the text (default text).")]
ChunkWords = Annotated[int | None, typer.Option("--chunk-words", help="Text folders: words per passage (default 200).")]
ChunkOverlap = Annotated[int | None, typer.Option("--chunk-overlap", help="Text folders: words shared by consecutive passages (default 40).")]


def corpus_options(form: str | None, id_field: str | None, title_field: str | None, text_field: str | None,
                   chunk_words: int | None, chunk_overlap: int | None) -> dict[str, Any]:
    """The corpus options of a command as dotted setting paths (None: not given)."""
    return {"data.format": form, "data.id_field": id_field, "data.title_field": title_field,
            "data.text_field": text_field, "data.chunk_words": chunk_words, "data.chunk_overlap": chunk_overlap}


def corpus_spec(path: Path, form: str | None = None, id_field: str | None = None, title_field: str | None = None,
                text_field: str | None = None, chunk_words: int | None = None,
                chunk_overlap: int | None = None) -> CorpusSpec:
    """A CorpusSpec from command options, given ones only (commands without a run config)."""
    given = corpus_options(form, id_field, title_field, text_field, chunk_words, chunk_overlap)
    return CorpusSpec(path=path, **{k.removeprefix("data."): v for k, v in given.items() if v is not None})


_SETTINGS_OPTIONS: dict[str, tuple[Any, Any]] = {  # name -> (annotation, default)
    "data": (OptionalDataPath, None), "preset": (Preset, "laptop"), "config": (ConfigFile, None),
    "overrides": (Overrides, None), "form": (Format, None), "id_field": (IdField, None),
    "title_field": (TitleField, None), "text_field": (TextField, None), "chunk_words": (ChunkWords, None),
    "chunk_overlap": (ChunkOverlap, None),
}


@dataclass(frozen=True)
class SettingsOptions:
    """What `run` and every stage command take to resolve the run's settings: the corpus and how to
    read it, a preset, a config file and --set overrides."""

    data: Path | None = None
    preset: str | None = "laptop"
    config: Path | None = None
    overrides: list[str] | None = None
    form: str | None = None
    id_field: str | None = None
    title_field: str | None = None
    text_field: str | None = None
    chunk_words: int | None = None
    chunk_overlap: int | None = None

    def resolve(self, shortcuts: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()):
        """The RunConfig: preset, config file, --set (then `overrides`), then the command's own
        options `shortcuts` (dotted setting path -> value, None: not given) and the corpus options."""
        from corpustune.config import resolve_config

        given = dict(shortcuts or {}) | corpus_options(self.form, self.id_field, self.title_field, self.text_field,
                                                       self.chunk_words, self.chunk_overlap)
        return resolve_config(self.data, self.preset, self.config, (*(self.overrides or ()), *overrides), given)


def with_settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a typer command the options of `SettingsOptions`, declared once here; the command
    receives them as its parameter `settings` (which typer does not see)."""
    signature = inspect.signature(command)
    hints = typing.get_type_hints(command, include_extras=True)
    own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != "settings"]
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
              for name, (annotation, default) in _SETTINGS_OPTIONS.items()]

    @functools.wraps(command)
    def with_settings(**values: Any) -> Any:
        settings = SettingsOptions(**{name: values.pop(name) for name in _SETTINGS_OPTIONS})
        return command(settings=settings, **values)

    with_settings.__signature__ = signature.replace(parameters=own + shared)  # type: ignore[attr-defined]
    with_settings.__annotations__ = {p.name: p.annotation for p in own + shared}
    return with_settings


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """Print a plain, aligned text table (numbers right-aligned)."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    def line(cells):
        return "  ".join(
            str(c).rjust(w) if i and _is_number(c) else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def _is_number(cell) -> bool:
    try:
        float(str(cell).replace(",", ""))
        return True
    except ValueError:
        return False


__all__ = [
    "ChunkOverlap", "ChunkWords", "ConfigFile", "CorpusFormat", "DataPath", "Format", "IdField", "OptionalDataPath",
    "Overrides", "Preset", "RunFolder", "SettingsOptions", "TextField", "TitleField", "corpus_options", "corpus_spec",
    "print_table", "with_settings_options",
]
