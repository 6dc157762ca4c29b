"""Exceptions that carry a message meant for the user: what is wrong, where, and the fix."""


class CorpustuneError(Exception):
    """Base class; the CLI prints these without a traceback."""


class InputError(CorpustuneError, ValueError):
    """Bad user input: a malformed file, a missing field, a duplicate id."""


class ModelNotFoundError(CorpustuneError, FileNotFoundError):
    """A model alias or path that cannot be resolved offline."""


class MissingExtraError(CorpustuneError, ImportError):
    """An optional dependency is not installed; the message names the extra."""


def require_extra(module: str, extra: str):
    """Import `module` lazily, or raise MissingExtraError naming `pip install corpustune[extra]`."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(
            f"this feature needs the Python module {module!r}, which is not installed; "
            f"install it with: pip install 'corpustune[{extra}]'"
        ) from error
