"""Whether a text has a character a reader could see: a passage without one is empty text.

Invisible: control characters (C0/C1, e.g. NUL, BEL, ESC), format characters (zero-width space,
zero-width joiners, word joiner, byte order mark, bidirectional marks), surrogates, separators
(spaces, line and paragraph separators), the blank fillers of Hangul and Braille that render as
nothing, and terminal escape sequences (`ESC [ 3 1 m` colours text, it is not text). Everything
else counts as visible, including code points this Python's Unicode tables do not know yet.
"""

from __future__ import annotations

import re
import unicodedata

INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zs", "Zl", "Zp"})
BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
"""Letters and symbols by category that render as blank (Hangul fillers, the Braille blank)."""
TERMINAL_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
"""ANSI/ECMA-48 escape sequences: CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL`) and two-byte escapes."""


def has_visible_text(text: str) -> bool:
    """True when `text` holds at least one visible character (see the module docstring)."""
    if "\x1b" in text:  # only then can an escape sequence's printable bytes pass for text
        text = TERMINAL_ESCAPE.sub("", text)
    return any(unicodedata.category(c) not in INVISIBLE_CATEGORIES and c not in BLANK_LETTERS for c in text)
