"""Keyword-search tokens (pure).

Latin/Cyrillic/... words are lower-cased and lightly stemmed; identifiers keep
their inner dots and dashes as well as their parts (`kfp.dsl` -> `kfp.dsl`, `kfp`,
`dsl`), and a camelCase field name its words as well (`parallelTrialCount` ->
`paralleltrialcount`, `parallel`, `trial`, `count`): docs name settings that way,
people ask "how many trials run in parallel". Hangul, Han and Kana runs have no
spaces between words, so they become overlapping character bigrams (and the single character when a run is one
character long): a Korean question then matches Korean docs without a
dictionary, and mixed text matches on both its scripts.
"""

from __future__ import annotations

import re

# A word, joined words included ("try/finally", "multi-objective", "kfp.dsl").
WORD = re.compile(r"[^\W_]+(?:[.\-_/][^\W_]+)*", re.UNICODE)
_JOINS = re.compile(r"[.\-_/]")

STOPWORDS = frozenset(
    """a an and are as at be but by can could do does for from has have how i if in into is it its
    me my of on or our so that the their them then there these this to was we what when where which
    who why will with you your yo u pls please hey hi any anyone know need want get""".split()
) | frozenset(
    # Contractions, typed with or without the apostrophe ("isn't" splits into "isn" + "t"):
    # Slack writes "wont" and "isnt"; they say nothing about the topic.
    """isnt isn arent aren wasnt wasn werent weren dont don doesnt doesn didnt didn cant couldnt
    couldn wont won wouldnt wouldn shouldnt shouldn hasnt hasn havent haven hadnt hadn im ive
    youre theyre thats theres lets t s ll ve""".split()
)


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x1100 <= code <= 0x11FF  # Hangul Jamo
        or 0x3040 <= code <= 0x30FF  # Hiragana, Katakana
        or 0x3130 <= code <= 0x318F  # Hangul compatibility Jamo
        or 0x3400 <= code <= 0x4DBF  # Han extension A
        or 0x4E00 <= code <= 0x9FFF  # Han
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0xF900 <= code <= 0xFAFF  # Han compatibility
        or 0xFF66 <= code <= 0xFF9F  # half-width Katakana
    )


def stem(word: str) -> str:
    """A deliberately small English stemmer: plural and common verb endings."""
    if len(word) <= 3 or not word.isascii() or not word.isalpha():
        return word
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            if suffix == "es" and not word.endswith(("ches", "shes", "xes", "zes", "sses")):
                return word[:-1]
            return word[: len(word) - len(suffix)] + repl
    return word


def _cjk_runs(token: str) -> list[str]:
    """Split a token into CJK runs and the rest."""
    runs: list[str] = []
    current = ""
    current_cjk = False
    for ch in token:
        c = is_cjk(ch)
        if current and c != current_cjk:
            runs.append(current)
            current = ""
        current += ch
        current_cjk = c
    if current:
        runs.append(current)
    return runs


def tokenize(text: str, *, keep_stopwords: bool = False) -> list[str]:
    tokens: list[str] = []
    for match in WORD.finditer(text):
        cased = match.group(0)
        word = cased.lower()
        for run in _cjk_runs(word):
            if is_cjk(run[0]):
                if len(run) == 1:
                    tokens.append(run)
                else:
                    tokens.extend(run[i : i + 2] for i in range(len(run) - 1))
                continue
            if not keep_stopwords and run in STOPWORDS:
                continue
            parts = word_parts(run)
            if run == word:  # the case is still known: split camelCase too
                camel = [w.lower() for p in word_parts(cased) for w in camel_words(p)]
                if len(camel) > len(parts):
                    parts = camel
            if len(parts) > 1:
                tokens.append(run)
                tokens.extend(stem(p) for p in parts if p not in STOPWORDS)
            else:
                tokens.append(stem(run))
    return tokens


# A lower-camelCase identifier: lower-case letters, then capitalised words ("resumePolicy").
_LOWER_CAMEL = re.compile(r"[a-z]+(?:[A-Z][a-z]+)+")
_CAMEL_PIECE = re.compile(r"[A-Z]?[a-z]+")
MIN_CAMEL_PIECE = 3  # "isDefault" or "goVersion" stay whole: two letters say little


def camel_words(word: str) -> list[str]:
    """The words of a lower-camelCase identifier ("parallelTrialCount" -> ["parallel",
    "Trial", "Count"]), or [word].

    Only identifiers that start lower-case, i.e. configuration fields, are split.
    PascalCase is mostly product names (JupyterLab, TensorFlow): their halves ("lab",
    "flow") would enter the vocabulary and make an unknown name look like a compound of
    corpus words ("gitlab" = git + lab), which the decline check reads as ordinary language.
    """
    if not _LOWER_CAMEL.fullmatch(word):
        return [word]
    pieces = _CAMEL_PIECE.findall(word)
    return pieces if all(len(p) >= MIN_CAMEL_PIECE for p in pieces) else [word]


def word_parts(word: str) -> list[str]:
    """The words a joined word is made of ("try/finally" -> ["try", "finally"])."""
    return [p for p in _JOINS.split(word) if p]
