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


def validation_message(error, source=None) -> str:
    """A pydantic ValidationError as one line: `setting = value: what is wrong` per problem;
    `setting = value (from SOURCE): ...` where `source(location)` names where the value came from."""
    problems = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"])
        value = problem.get("input")
        shown = "" if problem["type"] == "missing" or isinstance(value, dict) else f" = {value!r}"
        if problem["type"] == "extra_forbidden":
            message = "no such setting (`corpustune config` lists them all)"
        else:
            message = problem["msg"][0].lower() + problem["msg"][1:]
        given = source(problem["loc"]) if source is not None else None
        problems.append(f"{where}{shown}{f' (from {given})' if given else ''}: {message}")
    return "; ".join(problems)
