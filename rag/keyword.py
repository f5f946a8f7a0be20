"""BM25 keyword search over chunks, with titles and headings weighing in.

Each chunk is indexed as its heading path (page title first) repeated
`HEADER_WEIGHT` times plus its body, so a section whose heading names the thing
asked about outranks one that only mentions it.

Query side, two things the retriever needs beyond plain BM25:

- typo tolerance: a query word the index has never seen is mapped to the most
  frequent vocabulary word at Damerau-Levenshtein distance 1 (`katb` -> `katib`,
  `dashbaord` -> `dashboard`), via a symmetric-deletion table built lazily on
  first use. Left alone: words of fewer than `MIN_TYPO_LEN` letters (too many
  neighbours to guess), words the caller knows as ordinary language (`ordinary`,
  the embedding model's tokenizer: "dark" is not a typo of "dart", the docs just
  don't say it) and candidates with another first letter (typos rarely hit it).
  A word shorter than `MIN_SUBSTITUTION_LEN` is corrected only for a dropped,
  doubled or swapped letter: with a changed one it is more often a name the docs
  never mention ("kafka", "keda", "livy") than a typo of a rare corpus word.
  A word with no such neighbour that starts a vocabulary word of at least
  `MIN_PREFIX_LEN` letters is completed to it (`hyperparams` -> `hyperparameter`).
- term statistics: document frequency and the rows holding a term, read from
  the BM25 index's own sparse matrix, for the answerability check in
  `rag.answerability`.
"""

from __future__ import annotations

import bisect
import logging
import math
import re
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from rag.chunking import Chunk
from rag.tokenize import tokenize

log = logging.getLogger(__name__)

# Title and heading words count this many times over body words: a chunk whose
# heading names the thing asked about is usually the right section.
HEADER_WEIGHT = 2
MIN_TYPO_LEN = 4  # shorter unknown words are not corrected
MIN_PREFIX_LEN = 5  # shorter unknown words are not completed ("hyperparam" -> "hyperparameter")
# Shorter unknown words are corrected only for a dropped, doubled or swapped letter ("katb"),
# never for a changed or another extra one: "kafka", "keda", "livy" are names, not typos of "kawka",
# "kera", "liv(e)". A short word has too many such neighbours to guess from.
MIN_SUBSTITUTION_LEN = 6
MAX_COMPLETIONS = 20
_ALPHA_WORD = re.compile(r"[A-Za-z]+")


def keyword_text(chunk: Chunk) -> list[str]:
    header = tokenize(chunk.section)
    return header * HEADER_WEIGHT + tokenize(chunk.text)


def build_keyword_index(chunks: list[Chunk], directory: Path) -> None:
    import bm25s

    corpus = [keyword_text(c) or ["∅"] for c in chunks]
    model = bm25s.BM25()
    if corpus:
        model.index(corpus, show_progress=False)
    directory.mkdir(parents=True, exist_ok=True)
    if corpus:
        model.save(str(directory), show_progress=False)


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) of the `k` best positive scores, best first, ties by lower row.

    Scoring every document and partitioning is several times faster than
    bm25s's `retrieve`, which starts a thread pool per query.
    """
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    part = part[np.lexsort((part, -scores[part]))]
    part = part[scores[part] > 0]
    return part.astype(np.int64), scores[part].astype(np.float32)


def deletions(word: str) -> set[str]:
    """The word and every string one deleted character away from it."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _dropped_doubled_or_swapped(typed: str, word: str) -> bool:
    """True when `typed` is `word` with one letter left out, a letter doubled ("kfpp"), or
    two neighbours swapped (given that the two are one edit apart)."""
    if len(typed) == len(word) - 1:
        return True
    if len(typed) == len(word) + 1:
        return any(
            typed[i] == typed[i + 1] and typed[:i] + typed[i + 1 :] == word
            for i in range(len(word))
        )
    return sum(x != y for x, y in zip(typed, word, strict=True)) == 2


def _damerau1(a: str, b: str) -> bool:
    """True when a and b differ by at most one edit (insert, delete, substitute, swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if la < lb else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class KeywordIndex:
    def __init__(self, directory: Path, size: int) -> None:
        import bm25s

        self.size = size
        self.model = (
            bm25s.BM25.load(str(directory), show_progress=False, mmap=False) if size else None
        )
        self.vocab: dict[str, int] = dict(self.model.vocab_dict) if self.model is not None else {}
        self._indptr: np.ndarray | None = None
        self._indices: np.ndarray | None = None
        if self.model is not None:
            scores = self.model.scores
            self._indptr = np.asarray(scores["indptr"])
            self._indices = np.asarray(scores["indices"])
        self._deletes: dict[str, list[str]] | None = None
        self._deletes_lock = threading.Lock()
        self._corrections: dict[str, str | None] = {}
        self._sorted_vocab: list[str] | None = None
        # set by the retriever: True for a word of ordinary language (never "corrected")
        self.ordinary: Callable[[str], bool] = lambda word: False

    # ------------------------------------------------------------ statistics

    def doc_freq(self, token: str) -> int:
        """How many chunks contain `token` (0 when unknown)."""
        tid = self.vocab.get(token)
        if tid is None or self._indptr is None:
            return 0
        return int(self._indptr[tid + 1] - self._indptr[tid])

    def has_word(self, word: str) -> bool:
        """Whether the corpus uses `word` (as the index stems it; no typo correction)."""
        return any(token in self.vocab for token in tokenize(word))

    def idf(self, token: str) -> float:
        """BM25-style inverse document frequency; an unknown word gets the highest value."""
        n = max(self.size, 1)
        df = self.doc_freq(token)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    @property
    def max_idf(self) -> float:
        """The IDF of a word no chunk contains: the ceiling of `idf`."""
        n = max(self.size, 1)
        return math.log(1.0 + (n + 0.5) / 0.5)

    def rows_with(self, token: str) -> np.ndarray:
        """Sorted row ids of the chunks containing `token`."""
        tid = self.vocab.get(token)
        if tid is None or self._indptr is None or self._indices is None:
            return np.zeros(0, dtype=np.int64)
        return self._indices[self._indptr[tid] : self._indptr[tid + 1]]

    def contains_each(self, token: str, rows: list[int]) -> np.ndarray:
        """For each of `rows`, whether that chunk contains `token` (bool array)."""
        found = self.rows_with(token)
        wanted = np.asarray(rows, dtype=np.int64)
        if not len(found) or not len(wanted):
            return np.zeros(len(wanted), dtype=bool)
        # binary search: a common word's row list can be long at 100k chunks
        pos = np.minimum(np.searchsorted(found, wanted), len(found) - 1)
        return found[pos] == wanted

    def contains(self, token: str, rows: list[int]) -> bool:
        """Whether any chunk of `rows` contains `token`."""
        return bool(self.contains_each(token, rows).any())

    # ------------------------------------------------------------ typos

    def prepare(self) -> None:
        """Build the typo table now (otherwise the first unknown word pays for it)."""
        self._deletion_table()

    def _deletion_table(self) -> dict[str, list[str]]:
        if self._deletes is None:
            with self._deletes_lock:
                if self._deletes is None:
                    table: dict[str, list[str]] = {}
                    for word in self.vocab:
                        if len(word) >= MIN_TYPO_LEN - 1 and word.isalpha():
                            for d in deletions(word):
                                table.setdefault(d, []).append(word)
                    self._deletes = table
        return self._deletes

    def correct(self, token: str) -> str | None:
        """The vocabulary word a never-seen token most likely misspells, or None."""
        if token in self.vocab:
            return token
        if len(token) < MIN_TYPO_LEN or not token.isalpha() or not token.isascii():
            return None
        if token in self._corrections:
            return self._corrections[token]
        if self.ordinary(token):
            return None
        table = self._deletion_table()
        candidates: set[str] = set()
        for d in deletions(token):
            candidates.update(table.get(d, ()))
        best = max(
            (
                c
                for c in candidates
                if c[0] == token[0]
                and _damerau1(token, c)
                and (len(token) >= MIN_SUBSTITUTION_LEN or _dropped_doubled_or_swapped(token, c))
            ),
            key=lambda c: (self.doc_freq(c), c),
            default=None,
        )
        if best is None and len(token) >= MIN_PREFIX_LEN:
            best = self._completion(token)
        if len(self._corrections) < 10_000:  # bounded: questions are open-ended
            self._corrections[token] = best
        return best

    def _completion(self, prefix: str) -> str | None:
        """The most frequent vocabulary word starting with `prefix` ("hyperparam" ->
        "hyperparameter"): Slack shortens long words more often than it misspells them."""
        if self._sorted_vocab is None:
            self._sorted_vocab = sorted(w for w in self.vocab if w.isalpha())
        words = self._sorted_vocab
        start = bisect.bisect_left(words, prefix)
        end = bisect.bisect_left(words, prefix + "\uffff", lo=start)
        if start == end or end - start > MAX_COMPLETIONS:  # none, or too vague to guess
            return None
        return max(words[start:end], key=lambda w: (self.doc_freq(w), w))

    def respell(self, text: str) -> str:
        """`text` with misspelled corpus words fixed, for the embedding model ("katb" ->
        "katib"); only whole-word typos, never stems or completions."""

        def fix(match: re.Match[str]) -> str:
            word = match.group(0)
            lower = word.lower()
            if lower in self.vocab or len(lower) < MIN_TYPO_LEN:
                return word
            tokens = tokenize(lower)
            if len(tokens) != 1:
                return word
            fixed = self.correct(tokens[0])
            if fixed is None or fixed == tokens[0] or not _damerau1(lower, fixed):
                return word
            return fixed

        return _ALPHA_WORD.sub(fix, text)

    def query_tokens(self, query: str) -> list[str]:
        """Query tokens as the index knows them: typos corrected, unknown words dropped."""
        out: list[str] = []
        for token in tokenize(query):
            fixed = self.correct(token)
            if fixed is not None:
                out.append(fixed)
        return out

    # ------------------------------------------------------------ search

    def search(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(row ids, scores) best first; empty when no query word is known."""
        return self.search_tokens(self.query_tokens(query), k)

    def search_tokens(self, tokens: list[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        if not tokens or self.model is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return top_k(np.asarray(self.model.get_scores(tokens), dtype=np.float32), k)


def title_tokens(title: str, page_url: str) -> list[str]:
    """A page's title words plus the words of its URL path (`.../katib/user-guides/nas/`)."""
    path = urlsplit(page_url).path.replace("-", " ").replace("_", " ").replace("/", " ")
    return tokenize(title) + tokenize(path)


class TitleIndex:
    """BM25 over page titles and URL paths, built in memory when an index version loads.

    A question naming a page's subject ("lightweight python components", "katib
    ui") should favour that page even when another page's paragraph matches
    more words; page titles are short, so they get their own index.
    """

    def __init__(self, pages: list[tuple[str, str]]) -> None:
        import bm25s

        self.pages = [url for url, _ in pages]
        corpus = [title_tokens(title, url) or ["∅"] for url, title in pages]
        self.model = bm25s.BM25() if corpus else None
        if self.model is not None:
            self.model.index(corpus, show_progress=False)
        self.vocab = set(self.model.vocab_dict) if self.model is not None else set()
        self._df: dict[str, int] = {}
        for doc in corpus:
            for token in set(doc):
                self._df[token] = self._df.get(token, 0) + 1

    def idf(self, token: str) -> float:
        n = len(self.pages)
        df = self._df.get(token, 0)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def search(self, tokens: list[str], k: int) -> dict[str, float]:
        """page URL -> how much of the question's information its title holds (0..~1).

        The BM25 score is divided by the summed IDF of all the question's words,
        words no title has counting at the highest IDF: a title that shares only
        a word every title has ("kubeflow") scores low, not "best match".
        """
        tokens = list(dict.fromkeys(tokens))
        known = [t for t in tokens if t in self.vocab]
        if not known or self.model is None:
            return {}
        docs, scores = top_k(np.asarray(self.model.get_scores(known), dtype=np.float32), k)
        total = sum(self.idf(t) for t in tokens)
        if not len(docs) or total <= 0:
            return {}
        return {
            self.pages[d]: s / total for d, s in zip(docs.tolist(), scores.tolist(), strict=True)
        }
