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
    typer.Option("--data", help="Corpus: a BEIR folder, a .jsonl/.csv/.tsv/.parquet file, or a folder of "
                 ".txt/.md (and, with the docs extra, .pdf/.html/.docx) files."),
]
OptionalDataPath = Annotated[
    Path | None,
    typer.Option("--data", help="Corpus: a BEIR folder, a .jsonl/.csv/.tsv/.parquet file, or a folder of .txt/.md "
                 "(and, with the docs extra, .pdf/.html/.docx) files (or data.path in --config)."),
]
RunFolder = Annotated[
    Path,
    typer.Option("--out", "--run", "--run-folder",
                 help="Run folder; re-running resumes it (under torchrun spell it --out: torchrun claims --run)."),
]
Preset = Annotated[str | None, typer.Option(
    help="laptop (offline, 2 CPU cores, about 30-80 min), laptop-long (the same, more passages) or paper (GPU, hub models)."
)]
ConfigFile = Annotated[list[Path] | None, typer.Option(
    "--config", help="YAML file overriding any setting (see `corpustune config`); repeat it to merge several files in "
    "order, a later file winning where two set the same setting.",
)]
Overrides = Annotated[list[str] | None, typer.Option("--set", help="Override one setting, e.g. --set train.epochs=2.")]
ExampleQueries = Annotated[Path | None, typer.Option(
    "--example-queries", help="A file of your own example queries (one a line, or a BEIR queries.jsonl): adds the "
    "query type `examples`, written like them (setting generate.example_queries).",
)]
Format = Annotated[str | None, typer.Option("--format", help="auto, beir, jsonl, csv, tsv, parquet or textdir.")]
IdField = Annotated[str | None, typer.Option("--id-field", help="Record field holding the id (default `_id`, else `id`).")]
TitleField = Annotated[str | None, typer.Option("--title-field", help="Record field holding the title (default title).")]
TextField = Annotated[str | None, typer.Option("--text-field", help="Record field holding the text (default text).")]
ChunkWords = Annotated[int | None, typer.Option("--chunk-words", help="Text folders: words per passage (default 200).")]
ChunkOverlap = Annotated[int | None, typer.Option("--chunk-overlap", help="Text folders: words shared by consecutive passages (default 40).")]


_CORPUS_OPTIONS: dict[str, tuple[Any, Any]] = {  # parameter -> (annotation, default); the setting is data.<field>
    "form": (Format, None), "id_field": (IdField, None), "title_field": (TitleField, None),
    "text_field": (TextField, None), "chunk_words": (ChunkWords, None), "chunk_overlap": (ChunkOverlap, None),
}
_SETTINGS_OPTIONS: dict[str, tuple[Any, Any]] = {
    "data": (OptionalDataPath, None), "preset": (Preset, "laptop"), "config": (ConfigFile, None),
    "overrides": (Overrides, None),
}


@dataclass(frozen=True)
class CorpusOptions:
    """How to read the corpus, as given on the command line (None: not given)."""

    form: str | None = None
    id_field: str | None = None
    title_field: str | None = None
    text_field: str | None = None
    chunk_words: int | None = None
    chunk_overlap: int | None = None

    def settings(self) -> dict[str, Any]:
        """As dotted setting paths, e.g. {"data.format": "jsonl", ...}."""
        return {f"data.{'format' if name == 'form' else name}": getattr(self, name) for name in _CORPUS_OPTIONS}

    def spec(self, path: Path) -> CorpusSpec:
        """A CorpusSpec of `path` with the given options (commands without a run config)."""
        given = {k.removeprefix("data."): v for k, v in self.settings().items() if v is not None}
        return CorpusSpec(path=path, **given)


@dataclass(frozen=True)
class SettingsOptions:
    """What `run` and every stage command take to resolve the run's settings: the corpus and how to
    read it, a preset, config files (merged in order) and --set overrides."""

    corpus: CorpusOptions
    data: Path | None = None
    preset: str | None = "laptop"
    config: list[Path] | None = None
    overrides: list[str] | None = None

    def resolve(self, shortcuts: Mapping[str, Any] | None = None, overrides: Sequence[str] = ()):
        """The RunConfig: preset, config files, --set (then `overrides`), then the command's own
        options `shortcuts` (dotted setting path -> value, None: not given) and the corpus options."""
        from corpustune.config import resolve_config

        given = dict(shortcuts or {}) | self.corpus.settings()
        return resolve_config(self.data, self.preset, self.config or (), (*(self.overrides or ()), *overrides),
                              given)


def _with_options(options: dict[str, tuple[Any, Any]], parameter: str,
                  build: Callable[[dict[str, Any]], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator that gives a typer command the `options` (declared once, here) and hands their
    values to the command as one object, `build(values)`, in its parameter `parameter` (which
    typer does not see)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(command)
        hints = typing.get_type_hints(command, include_extras=True)
        own = [p.replace(annotation=hints[p.name]) for p in signature.parameters.values() if p.name != parameter]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                 for name, (annotation, default) in options.items()]

        @functools.wraps(command)
        def with_options(**values: Any) -> Any:
            return command(**{parameter: build({name: values.pop(name) for name in options})}, **values)

        with_options.__signature__ = signature.replace(parameters=own + added)  # type: ignore[attr-defined]
        with_options.__annotations__ = {p.name: p.annotation for p in own + added}
        return with_options

    return decorate


with_corpus_options = _with_options(_CORPUS_OPTIONS, "corpus", lambda values: CorpusOptions(**values))
"""Give a command the corpus options (`CorpusOptions`, parameter `corpus`)."""

with_settings_options = _with_options(
    _SETTINGS_OPTIONS | _CORPUS_OPTIONS, "settings",
    lambda values: SettingsOptions(CorpusOptions(**{name: values.pop(name) for name in _CORPUS_OPTIONS}), **values),
)
"""Give a command the settings options of `run` (`SettingsOptions`, parameter `settings`)."""


def example_queries_setting(path: Path | None) -> dict[str, str | None]:
    """`--example-queries` as a setting, the path made absolute so that a resumed run finds the file."""
    return {"generate.example_queries": None if path is None else str(path.resolve())}


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
    "ChunkOverlap", "ChunkWords", "ConfigFile", "CorpusFormat", "CorpusOptions", "DataPath", "ExampleQueries", "Format", "IdField",
    "OptionalDataPath", "Overrides", "Preset", "RunFolder", "SettingsOptions", "TextField", "TitleField",
    "example_queries_setting", "print_table", "with_corpus_options", "with_settings_options",
]
