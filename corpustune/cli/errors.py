"""How a command ends when something goes wrong: one line for the user, a traceback only for a bug.

`user_error` is the one place that decides which exceptions stand for bad user input: the
library's own `CorpustuneError`s, invalid settings (pydantic), invalid YAML, and operating-system
errors on a named file (a missing path, a folder where a file was expected, no permission, a
full disk). `guarded` wraps every command: such an error prints as `error: ...` on stderr and
exits with code 2; Ctrl-C prints `interrupted` and exits with 130; anything else is a bug and
keeps its traceback. `corpustune --debug COMMAND ...` shows the traceback of every error.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from corpustune.errors import CorpustuneError, InputError, validation_message

USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130


def user_error(error: BaseException) -> CorpustuneError | None:
    """The user-facing error that `error` stands for, or None when it is a bug."""
    if isinstance(error, CorpustuneError):
        return error
    from pydantic import ValidationError

    if isinstance(error, ValidationError):
        return InputError(f"invalid settings: {validation_message(error)}")
    import yaml

    if isinstance(error, yaml.YAMLError):
        return InputError(f"not valid YAML: {' '.join(str(error).split())}")
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        return InputError(f"{error.filename}: {error.strerror.lower()}")
    return None


_show_tracebacks = False


def show_tracebacks(value: bool) -> None:
    """Set by `corpustune --debug` (before every command runs): errors keep their traceback."""
    global _show_tracebacks
    _show_tracebacks = value


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """`command`, ending with one line and exit code 2 on a user error, 130 on Ctrl-C."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt:
            if _show_tracebacks:
                raise
            print("interrupted", file=sys.stderr)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        except Exception as error:
            message = user_error(error)
            if message is None or _show_tracebacks:
                raise
            print(f"error: {message}", file=sys.stderr)
            raise typer.Exit(USER_ERROR_EXIT) from None

    return run
