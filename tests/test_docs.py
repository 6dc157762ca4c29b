"""The docs stay true where that is cheap to check: every `corpustune` command line shown in
README.md and docs/*.md names a real command and only options it accepts, every settings key
they name exists in the run config, docs/configuration.md lists exactly the settings there are,
and every relative link (and its #anchor) resolves.

The checkers are plain functions of markdown text; each is also run on a planted mistake, so a
checker that stopped finding anything would fail here too.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import get_args, get_origin

import click
import pytest
import typer.main
from pydantic import BaseModel

from corpustune.cli import app
from corpustune.config import RunConfig

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
SECTIONS = tuple(RunConfig.model_fields)  # data, generate, mine, ... : a dotted key starting with one is a setting
FENCE = re.compile(r"^ {0,3}(```|~~~)")
INLINE_CODE = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
KEY = re.compile(r"(?<![\w./$<-])((?:" + "|".join(SECTIONS) + r")(?:\.[A-Za-z_]\w*(?:\[\])?)+)")
FILE_SUFFIXES = {"py", "json", "jsonl", "yaml", "yml", "md", "tsv", "html", "png", "npy", "gz", "txt"}
SHELL_TAGS = {"", "bash", "sh", "shell", "console"}
SHELL_BREAKS = {"|", "||", "&&", ";", ">", ">>", "<", "2>&1", "&"}


@dataclass(frozen=True)
class Snippet:
    """A piece of a markdown file: a line of a fenced block (`fenced`) or an inline code span
    with the paragraph it stands in (`context`)."""

    file: str
    line: int
    text: str
    fenced: bool
    context: str = ""


def snippets(text: str, file: str = "doc.md") -> list[Snippet]:
    """Lines of fenced shell blocks (untagged or tagged bash, sh, shell, console; a trailing `\\`
    joins the next line) and inline code spans of the prose (a span may run over a line break;
    `\\|`, a pipe escaped in a table, is read as `|`). A span's context is its paragraph and
    the headings it stands under."""
    found: list[Snippet] = []
    prose: list[tuple[int, str]] = []
    headings: dict[int, str] = {}  # level -> the heading in force
    under: dict[int, str] = {}  # prose line -> the headings it stands under
    fence_open, shell, pending, pending_line = False, False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fence_open = not fence_open
            shell = fence_open and line.strip().strip("`~").strip() in SHELL_TAGS
            continue
        if not fence_open:
            heading = re.match(r"^(#{1,6})\s", line)
            if heading:
                level = len(heading.group(1))
                headings = {k: v for k, v in headings.items() if k < level} | {level: line}
            prose.append((number, line))
            under[number] = "\n".join(headings[k] for k in sorted(headings))
            continue
        if not shell:
            continue
        if not pending:
            pending_line = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        found.append(Snippet(file, pending_line, pending + line, True))
        pending = ""
    for start, paragraph in _paragraphs(prose):
        for match in INLINE_CODE.finditer(paragraph):
            line = start + paragraph.count("\n", 0, match.start())
            span = match.group(1).replace("\n", " ").replace("\\|", "|")
            found.append(Snippet(file, line, span, False, under[start] + "\n" + paragraph))
    return sorted(found, key=lambda s: s.line)


def _paragraphs(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Consecutive prose lines joined, with the number of their first line."""
    groups: list[tuple[int, str]] = []
    start, current, previous = 0, [], -1
    for number, line in lines:
        if number != previous + 1 or not line.strip():
            if current:
                groups.append((start, "\n".join(current)))
            start, current = number, []
        if line.strip():
            current.append(line)
        previous = number
    if current:
        groups.append((start, "\n".join(current)))
    return groups


def _tokens(text: str) -> list[str]:
    """Shell words of `text`, comments dropped; a line that shlex cannot read is split on spaces."""
    try:
        return shlex.split(text, comments=True)
    except ValueError:
        return text.split("#")[0].split()


def _option_name(token: str) -> str | None:
    """`--out` of `--out`, `[--out`, `--out=RUN]`, `[--dense M]...`; None for anything else."""
    token = token.strip("[]().,")
    if not re.fullmatch(r"--[a-z][a-z0-9-]*(=.*)?", token):
        return None
    return token.split("=", 1)[0]


def _options(command: click.Command) -> set[str]:
    names = {"--help"}
    for param in command.params:
        names.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    return names


def command_problems(snippet: Snippet, group: click.Group) -> list[str]:
    """What is wrong with each `corpustune` invocation in `snippet`: an unknown command or an
    option the command does not accept. A command name in capitals (`COMMAND`) is a placeholder."""
    tokens = _tokens(snippet.text)
    problems: list[str] = []
    where = f"{snippet.file}:{snippet.line}"
    for start, token in enumerate(tokens):
        if token != "corpustune" and not token.endswith("/corpustune"):  # also `python -m corpustune`
            continue
        command: click.Command = group
        for word in tokens[start + 1:]:
            if word in SHELL_BREAKS or word.startswith((">", "2>")):
                break
            option = _option_name(word)
            if option is not None:
                if option not in _options(command):
                    problems.append(f"{where}: `{snippet.text.strip()}`: {command.name} has no option {option}")
                continue
            if command is group and not word.startswith("-"):
                if word.isupper() or word.startswith("..."):
                    break
                if word not in group.commands:
                    problems.append(f"{where}: `{snippet.text.strip()}`: no command {word!r}")
                    break
                command = group.commands[word]
    return problems


def lone_option_problems(snippet: Snippet, known: set[str]) -> list[str]:
    """An inline span that is an option on its own (`--concurrency`, `--count TYPE=N`) must be an
    option of some corpustune command, unless its paragraph or section is about a benchmark script."""
    words = snippet.text.split()
    option = _option_name(words[0]) if words and not snippet.fenced else None
    if option is None or option in known or "benchmarks/" in snippet.context:
        return []
    return [f"{snippet.file}:{snippet.line}: `{snippet.text}`: no corpustune command has the option {option}"]


def _nested_model(annotation: object) -> tuple[type[BaseModel] | None, str]:
    """The settings model a field holds, and "[]" when it holds a list (or tuple) of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    args = get_args(annotation)
    item = args[0] if get_origin(annotation) in (list, tuple) and args else None
    if isinstance(item, type) and issubclass(item, BaseModel):
        return item, "[]"
    return None, ""


def setting_keys(model: type[BaseModel] = RunConfig, prefix: str = "") -> dict[str, bool]:
    """Every dotted settings key (`train.epochs`, `mine.dense[].model`) -> whether it is a leaf."""
    keys: dict[str, bool] = {}
    for name, info in model.model_fields.items():
        nested, suffix = _nested_model(info.annotation)
        keys[prefix + name] = nested is None
        if nested is not None:
            keys.update(setting_keys(nested, f"{prefix}{name}{suffix}."))
    return keys


def _plain(key: str) -> str:
    return key.replace("[]", "")


def key_problems(snippet: Snippet, known: set[str]) -> list[str]:
    """Settings keys named in `snippet` that the config does not have: in an inline span every
    dotted key that starts with a config section; in a fenced line those after `--set`. File
    names (`evaluate.py`) and placeholders in capitals (`train.KEY`) are not keys."""
    if snippet.fenced:
        tokens = _tokens(snippet.text)
        candidates = [t.split("=", 1)[0] for before, t in zip(tokens, tokens[1:]) if before == "--set"]
    else:
        candidates = KEY.findall(snippet.text)
    problems = []
    for key in candidates:
        parts = key.split(".")
        if parts[-1] in FILE_SUFFIXES or any(p.replace("[]", "").isupper() for p in parts):
            continue
        if _plain(key) not in known:
            problems.append(f"{snippet.file}:{snippet.line}: no setting {key!r} (see `corpustune config`)")
    return problems


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of the headings of a markdown text (outside fenced blocks), with GitHub's
    -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    found = set()
    fence_open = False
    for line in text.splitlines():
        if FENCE.match(line):
            fence_open = not fence_open
            continue
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if fence_open or not match:
            continue
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def link_problems(path: Path, text: str) -> list[str]:
    """Relative links of `text` (the markdown file at `path`) whose file, or #anchor in a
    markdown file, does not exist. Links inside code are not links."""
    problems = []
    prose: list[tuple[int, str]] = []
    fence_open = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fence_open = not fence_open
        elif not fence_open:
            prose.append((number, INLINE_CODE.sub("", line)))
    for number, line in prose:
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):
                continue
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.name}:{number}: link {target!r}"
            if not resolved.exists():
                problems.append(f"{where}: no file {resolved}")
            elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading with anchor #{anchor} in {resolved.name}")
    return problems


@pytest.fixture(scope="module")
def group() -> click.Group:
    return typer.main.get_command(app)


@pytest.fixture(scope="module")
def doc_snippets() -> list[Snippet]:
    return [s for path in DOCS if path.exists()
            for s in snippets(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]


def test_the_docs_exist_and_show_corpustune_commands(doc_snippets):
    assert (ROOT / "README.md").exists() and len(DOCS) > 5
    shown = [s for s in doc_snippets if "corpustune " in s.text]
    assert len(shown) > 30, "the checks below would pass vacuously"


def test_every_command_line_uses_real_commands_and_options(doc_snippets, group):
    problems = [p for s in doc_snippets for p in command_problems(s, group)]
    assert not problems, "\n".join(problems)


def test_every_option_named_alone_exists(doc_snippets, group):
    known = _options(group).union(*(_options(c) for c in group.commands.values()))
    problems = [p for s in doc_snippets for p in lone_option_problems(s, known)]
    assert not problems, "\n".join(problems)


def test_every_settings_key_named_exists(doc_snippets):
    known = {_plain(k) for k in setting_keys()}
    problems = [p for s in doc_snippets for p in key_problems(s, known)]
    assert not problems, "\n".join(problems)


def test_configuration_page_lists_exactly_the_settings():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([^`]+)` \|", text.split("## Every setting", 1)[1], flags=re.M)
    leaves = [k for k, leaf in setting_keys().items() if leaf]
    missing, extra = sorted(set(leaves) - set(listed)), sorted(set(listed) - set(leaves))
    assert not missing and not extra, (
        f"docs/configuration.md 'Every setting': add rows for {missing}, remove the rows of {extra}")
    assert len(listed) == len(set(listed)), "a setting is listed twice"


def test_every_relative_link_resolves():
    problems = [p for path in DOCS if path.exists() for p in link_problems(path, path.read_text(encoding="utf-8"))]
    assert not problems, "\n".join(problems)


# The checkers find planted mistakes (and pass the same text without them).

PLANTED = """\
Run `corpustune run --data PATH --out RUN [--presett laptop]` or `corpustune --debug COMMAND ...`.
Set `train.epochz: 3` or `train.epochs`, not `evaluate.py`; see [the docs](no-such-page.md) and
[results](#results) and [nothing](#nowhere). Generation takes `--concurrency` and `--timeout`.

## Results

```bash
.venv/bin/corpustune mine --data DATA --out RUN \\
    --depht 100       # a typo on a continued line
torchrun --nproc_per_node 2 -m corpustune scores --out RUN
python -m corpustune train --out RUN --set train.lr=1 --set 'mine.dense=[{model: minilm}]'
corpustune evaluate --model M --data D > out.txt --not-an-option-of-evaluate-but-of-the-shell
```
"""


def test_the_command_checker_finds_planted_options_and_commands(group):
    problems = [p for s in snippets(PLANTED) for p in command_problems(s, group)]
    assert len(problems) == 3, problems
    assert "run has no option --presett" in problems[0]
    assert "doc.md:8:" in problems[1] and "mine has no option --depht" in problems[1]
    assert "no command 'scores'" in problems[2]


def test_the_lone_option_checker_finds_planted_options(group):
    known = _options(group).union(*(_options(c) for c in group.commands.values()))
    problems = [p for s in snippets(PLANTED) for p in lone_option_problems(s, known)]
    assert problems == ["doc.md:3: `--timeout`: no corpustune command has the option --timeout"]
    in_benchmark = snippets("## `benchmarks/gpu_check.py`\n\nIt takes `--timeout`.\n")
    assert not lone_option_problems(in_benchmark[-1], known)


def test_the_key_checker_finds_planted_keys():
    known = {_plain(k) for k in setting_keys()}
    problems = [p for s in snippets(PLANTED) for p in key_problems(s, known)]
    assert [p.split(": ", 1)[1] for p in problems] == [
        "no setting 'train.epochz' (see `corpustune config`)", "no setting 'train.lr' (see `corpustune config`)"]
    assert "mine.dense.hnsw.ef_search" in known and setting_keys()["mine.dense[].hnsw.ef_search"]


def test_the_link_checker_finds_planted_links(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PLANTED)
    problems = link_problems(page, PLANTED)
    assert len(problems) == 2, problems
    assert "no-such-page.md" in problems[0] and "#nowhere" in problems[1]


def test_anchors_follow_github():
    text = "# A title\n## Do the filters pay? (2026-12-03, SciFact's *train* split)\n" \
           "## The GPU check (`benchmarks/gpu_check.py`)\n## A title\n```\n# not a heading\n```\n"
    assert anchors(text) == {"a-title", "do-the-filters-pay-2026-12-03-scifacts-train-split",
                             "the-gpu-check-benchmarksgpu_checkpy", "a-title-1"}
