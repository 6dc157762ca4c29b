"""The `corpustune` command: thin typer commands over the library API.

Each command lives in its own module here and only parses arguments, calls the library and
prints; `errors.guarded` turns user errors into one line and exit code 2 (`--debug`: the
traceback).
"""

from __future__ import annotations

from typing import Annotated

import typer

from corpustune import __version__
from corpustune.cli import config, evaluate, export, generate, inspect, mine, models, run, score, select, train
from corpustune.cli.errors import guarded, show_tracebacks

app = typer.Typer(
    name="corpustune",
    help="Specialize a dense-retrieval embedding model to one document collection.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
for name, module in (("inspect", inspect), ("models", models), ("evaluate", evaluate), ("generate", generate),
                     ("mine", mine), ("score", score), ("train", train), ("select", select), ("run", run),
                     ("config", config),
                     ("export", export)):
    app.command(name)(guarded(module.command))


def _print_version(value: bool) -> None:
    if value:
        print(f"corpustune {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback of any error.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Specialize a dense-retrieval embedding model to one document collection."""
    show_tracebacks(debug)


def main() -> None:
    app()
