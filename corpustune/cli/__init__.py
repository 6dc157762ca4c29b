"""The `corpustune` command: thin typer commands over the library API.

Each command lives in its own module here and only parses arguments, calls the library and
prints; user errors (`CorpustuneError`) are printed as one message without a traceback.
"""

from __future__ import annotations

import sys

import typer

from corpustune.cli import config, evaluate, export, generate, inspect, mine, models, run, score, train
from corpustune.errors import CorpustuneError

app = typer.Typer(
    name="corpustune",
    help="Specialize a dense-retrieval embedding model to one document collection.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("inspect")(inspect.command)
app.command("models")(models.command)
app.command("evaluate")(evaluate.command)
app.command("generate")(generate.command)
app.command("mine")(mine.command)
app.command("score")(score.command)
app.command("train")(train.command)
app.command("run")(run.command)
app.command("config")(config.command)
app.command("export")(export.command)


def main() -> None:
    try:
        app()
    except CorpustuneError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
