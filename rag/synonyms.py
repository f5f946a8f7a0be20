"""Chat shorthand and everyday words for what the docs call otherwise (pure, but `load`).

People type "k8s", "repo", "from the terminal"; docs say Kubernetes, repository,
CLI. Keyword search (BM25) only matches the words themselves, so a question word
listed here brings the docs' words into the *keyword* query. The embedded question
is left alone (the embedding model already relates most of these pairs), and so is
the decline signal, which judges the question's own words (`rag.answerability`).

The built-in list holds generic IT shorthand only. `DOCBOT_SYNONYMS_FILE` adds a
docs set's own vocabulary, one entry a line:

    # question word: words the docs use
    kfp: kubeflow pipelines
    sso: single sign-on oidc
    터미널: cli

Words may be in any language. Korean writes particles onto a word ("터미널에서",
"from the terminal"), so a Korean entry also matches a question word starting with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path

from bot.config import ConfigError
from rag.tokenize import is_cjk

Synonyms = dict[str, tuple[str, ...]]

# Generic shorthand of IT chat, each mapped to the words documentation uses instead.
DEFAULT_SYNONYMS: Synonyms = {
    "terminal": ("cli", "command"),
    "shell": ("cli",),
    "console": ("cli",),
    "cmd": ("command",),
    "k8s": ("kubernetes",),
    "repo": ("repository",),
    "repos": ("repositories",),
    "creds": ("credentials",),
    "perms": ("permissions",),
    "db": ("database",),
    "auth": ("authentication",),
    "deps": ("dependencies",),
    "infra": ("infrastructure",),
    # "where are the full docs?": docs sites name a component's own site "... Website"
    "docs": ("documentation", "website"),
    "documentation": ("website",),
}

# A word in any script (letters and digits, inner `.`, `_`, `-`): the file may list Korean.
_WORD = re.compile(r"[^\W_][\w.-]*")
_ENTRY = re.compile(r"^\s*([^\W_][\w.-]*)\s*:\s*(\S.*)$")


def parse_synonyms(text: str, source: str = "synonyms") -> Synonyms:
    """`word: expansion words` lines (blank lines and `#` comments skipped), lower-cased.

    Raises ValueError naming the line when one is not of that form."""
    out: Synonyms = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip().lower()
        if not line:
            continue
        match = _ENTRY.match(line)
        if match is None:
            raise ValueError(f"{source}, line {number}: expected 'word: words the docs use'")
        word, expansion = match.groups()
        out[word] = tuple(dict.fromkeys([*out.get(word, ()), *expansion.split()]))
    return out


def load_synonyms(path: str) -> Synonyms:
    """The built-in list, plus the operator's file when one is named (its entries add words)."""
    merged = dict(DEFAULT_SYNONYMS)
    if not path:
        return merged
    try:
        extra = parse_synonyms(Path(path).read_text(encoding="utf-8"), Path(path).name)
    except OSError as exc:
        raise ConfigError(f"DOCBOT_SYNONYMS_FILE: cannot read {path} ({exc.strerror})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"DOCBOT_SYNONYMS_FILE: {exc}") from None
    for word, words in extra.items():
        merged[word] = tuple(dict.fromkeys([*merged.get(word, ()), *words]))
    return merged


def _entries(question: str, synonyms: Synonyms) -> Iterator[tuple[str, ...]]:
    """The entries the question's words name. A word is cut where the script changes
    ("k8s에서" is "k8s" and "에서"); a Korean run names the longest entry it starts with."""
    for word in _WORD.findall(question.lower()):
        for cjk, chars in groupby(word, key=is_cjk):
            run = "".join(chars)
            if not cjk:
                yield synonyms.get(run.strip(".-_"), ())
                continue
            for end in range(len(run), 0, -1):
                if run[:end] in synonyms:
                    yield synonyms[run[:end]]
                    break


def expansion(question: str, synonyms: Synonyms) -> str:
    """The docs' words for the question's shorthand, once each ("" when it has none)."""
    words: list[str] = []
    for entry in _entries(question, synonyms):
        for other in entry:
            if other not in words:
                words.append(other)
    return " ".join(words)
