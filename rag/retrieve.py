"""Hybrid retrieval: dense + BM25 fused by score, ranked by page, sections chosen within pages.

How a question becomes sections (`Retriever.search`):

1. Follow-ups are condensed with the thread (`condense_query`): a short
   question ("and for katib?") is joined to the thread's last question (and to
   the ones before it while the last named no topic of its own), its own words
   first, for both the embedding and the keyword search.
2. Two candidate lists of chunks: the nearest `CANDIDATES` by cosine similarity
   of the question's embedding (Chroma), and the best `CANDIDATES` by BM25 over
   heading path + body (`rag.keyword`: headings count double; typos of corpus
   words are corrected and shortened words completed, "katb" -> "katib").
3. Each candidate chunk scores its exact cosine similarity plus
   `KEYWORD_SCORE_WEIGHT` times its BM25 score relative to the query's best
   (`fuse_scores`). Scores rather than ranks, so that "far ahead" means
   something. (`DOCBOT_FUSION=rank` fuses by reciprocal ranks instead, `rrf`,
   scaled so that a section first in both lists scores 1.0 like a perfect
   cosine; 0.026 lower recall@1 on the Kubeflow question sets.)
4. Pages are ranked by their best chunk, plus `PAGE_SUPPORT` times their second
   best (a page covering the topic in several places beats one lucky
   paragraph), plus `TITLE_WEIGHT` times how well the page's title and URL path
   match the question (BM25 over titles, `rag.keyword.TitleIndex`): "container
   components vs lightweight python components" names two pages. Pages in a
   legacy / archived / deprecated part of the docs get a small penalty, or a
   bonus when the question names an old version ("old kfp v1"): `rag.versions`.
   A follow-up's pages also gain `OWN_COVER_WEIGHT` times the share of its *own*
   salient terms their sections contain (`own_coverage`): the thread's words find the
   thread's page, and a follow-up that moves on ("any rules on sentence length?" after
   signing off commits) is answered by the page that holds its own words.
5. Results: the best section of each page, in page order, then the pages'
   further sections. The first page also places up to `REPEAT` further sections
   right after its best when its *sections* (not just its title) put it first:
   the right page with the wrong section was the commonest miss, while the
   following pages keep their places behind it. Within each page, a follow-up's
   sections are ordered by their score plus `FOLLOWUP_SECTION_WEIGHT` times the
   cosine of the follow-up's own words: the thread finds the page, the follow-up
   picks the section ("and the random search one?" after a question on grid search).
6. An optional cross-encoder (`DOCBOT_RERANKER_MODEL`, `rag.rerank`) re-scores
   the candidate sections before pages are ranked.
7. Navigation sections ("Next steps", "See also") are set aside before pages
   are ranked (`set_aside_signposts`): they name a topic without answering it.
   They still count as evidence for the decline below.

Declining (`Retriever.gate`, `Retriever.relevance`): the best cosine
similarity among the hits and their pages' navigation sections, lowered by the
share of the question's salient terms (rare corpus words, names the corpus
never mentions) that none of them contains (`rag.answerability`), is compared
with two thresholds (`gate`).
A follow-up is judged with its thread's words; when its own words name
something the corpus never mentions, or a word it never uses that is rare in
English ("is there a discord too?"), the share of its own words that the hits
contain counts as well (the lower of the two). The thresholds:

- at or above `min_relevance` (DOCBOT_MIN_RELEVANCE, else
  `DEFAULT_MIN_RELEVANCE`) any model may answer, the offline one included;
- between `llm_min_relevance` (DOCBOT_LLM_MIN_RELEVANCE, else
  `DEFAULT_LLM_MIN_RELEVANCE`) and that, only a language model that reads the
  sources may answer: it replies `NOT_IN_DOCS` when they do not answer the
  question, which MiniLM and word statistics cannot tell for a question in the
  docs' own vocabulary. The offline answerer cannot judge that, so it declines;
- below `llm_min_relevance` every model declines (off-topic questions).

With a trained decline model (DOCBOT_GATE_MODEL, `rag.trained_gate`), the
first hits also carry the probability that they answer the question, and the
score gains `weight` x the best of them; the two thresholds then default to the
ones fitted for that combined score (its `gate.json`). A model retrained in
place (its `gate.json` changed, as `rag.gate_job` leaves it) serves from the
next question, as a new index version does; one that does not load is logged
and the loaded one keeps serving.

Each hit carries the terms it covers, so the decision is made on exactly the
hits the caller keeps.

Constants were tuned on tests/data/dev*_questions.jsonl and measured on
tests/data/heldout_questions.jsonl (`bench/bench_quality.py`); each is one
general mechanism, none refers to particular questions.

The bot calls `search` from a worker thread. The live index version is re-read
cheaply between questions (`refresh`), so a newly published version is picked
up without a restart, and a half-built one is never seen.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from bot.config import ConfigError, Settings
from bot.types import Turn
from rag import lexicon
from rag.answerability import (
    Term,
    coverage,
    names_missing,
    names_rare_word,
    relevance,
    salient_terms,
    salient_words,
)
from rag.chunking import Chunk, is_navigation
from rag.embeddings import Embedder, get_embedder
from rag.index_store import (
    IndexStore,
    IndexStoreError,
    VersionInfo,
    chroma_client,
    close_client,
    collection_name,
)
from rag.keyword import KeywordIndex, TitleIndex, keyword_text
from rag.multilingual import (
    KEYWORD_MIN_RELEVANCE,
    fusion_weights,
    keyword_relevance,
    uses_keyword_evidence,
)
from rag.synonyms import expansion, load_synonyms
from rag.trained_gate import GATE_FILE, TrainedGate, gate_dir, load_gate
from rag.versions import legacy_bonus, version_prior

log = logging.getLogger(__name__)

RRF_K = 60  # reciprocal-rank-fusion constant (DOCBOT_FUSION=rank); 60 is the usual choice
CANDIDATES = 50  # per retriever, before fusion
SINGLE_PIECE_CACHE = 65_536  # words whose tokenization is remembered, per retriever
RESPELL = True  # embed the question with its typos of corpus words fixed
KEYWORD_SCORE_WEIGHT = 0.3  # BM25 relative to the query's best, added to the cosine
DENSE_WEIGHT = 1.0  # RRF weights (DOCBOT_FUSION=rank)
KEYWORD_WEIGHT = 1.0
PAGE_SUPPORT = 0.2  # share of a page's second-best section added to its best
TITLE_WEIGHT = 0.8  # times the share of the question's IDF mass that a page's title/URL holds
TITLE_CANDIDATES = 20
LEAD = 0.0  # the first page repeats when its section score leads the next page's by this
REPEAT = 2  # further sections of the leading page placed right after its best
# A follow-up's own cosine, added to the fused score when choosing sections within a page
# (not pages). Follow-ups 1-7: section hit@5 157 -> 169 of 224 with 1.0, +7 with 0.6,
# +9 with 2.0; follow-ups 8-10, not tuned on: 59 -> 61 of 96. Page ranks unchanged: the
# same cosine added to the page score too gained on 1-7 but lost on 8 and 9.
FOLLOWUP_SECTION_WEIGHT = 1.0
# Added to a page's prior, times the share of a follow-up's own salient terms the page's
# sections contain (`own_coverage`): "any rules on sentence length for docs?" after a
# question about signing off commits is answered by the style guide, whose sections hold
# its own words, while the thread's words keep the contributing page first. Follow-ups
# 1-15: recall@1 325 -> 342 of 478 (0.15: 341, 0.25: 344, 0.5: 327).
OWN_COVER_WEIGHT = 0.2
# A single question's salient words (those weighing at least CONTENT_SHARE of the corpus's
# highest IDF, `rag.answerability.salient_words`) are embedded on their own too, and that
# vector is added to the question's, times CONTENT_WEIGHT: the chat around the topic ("quick
# q", "trying to convince my manager") no longer pulls the query towards any docs, and a
# question whose specific words the docs lack scores lower. It ranks only when there are
# two or more such words (see `Retriever._query_vectors`). On the 27 seen single sets at
# the thresholds below: unanswerable declined 358 -> 375 of 480, answerable 74 -> 77 of
# 1,141, recall@1 934 -> 938, section hit@5 929 -> 935; in front of a language model 291 ->
# 319 and 24 -> 29. Follow-ups (the thread joined in) lost recall@1, so they keep the
# plain vector. Grid: weight 0.3 / 0.5 / 0.8 / 1.5, share 0 / 0.2 / 0.3 / 0.4.
CONTENT_WEIGHT = 0.5
CONTENT_SHARE = 0.3
# Calibrated with the packaged MiniLM on the three dev sets together: below this
# combined relevance (see rag.answerability) the docs most likely don't cover it.
# Rechecked with the English lexicon (rag.lexicon) on the six seen sets together: 4.6 %
# of their answerable questions fall below it, and 70 % of the unanswerable ones.
DEFAULT_MIN_RELEVANCE = 0.29
# The gate before a language model that reads the sources and can reply NOT_IN_DOCS
# (rag.prompt.NOT_COVERED), calibrated on the five seen question sets together: at most
# 2 % of answerable questions fall below it (1.8 % leave-one-set-out), and so do all their
# off-topic ones; the model judges the rest. Never above the offline answerer's threshold.
# With the lexicon, on six sets: 1.5 % of answerable questions below it.
DEFAULT_LLM_MIN_RELEVANCE = 0.20
FOLLOWUP_MAX_WORDS = 8
# A follow-up is joined with at most this many earlier questions of its thread.
FOLLOWUP_MAX_JOINED = 3
# A message names a topic when one of its salient terms weighs at least this share of
# the corpus's highest IDF: a rare corpus word ("createpvc", "kfp-launcher") or a name
# the docs never mention. Ordinary words weigh a quarter of their IDF at most.
TOPIC_SHARE = 0.6


@dataclass
class Hit:
    chunk_id: str
    page_url: str
    anchor: str
    title: str
    section: str
    text: str
    score: float  # cosine similarity of question and chunk, 0..1
    fused: float = 0.0
    last_updated: str = ""
    row: int = -1
    # The question's salient terms (shared by all hits of one search) and those this
    # section contains: what `Retriever.is_relevant` measures coverage with.
    terms: tuple[Term, ...] = ()
    covered: frozenset[str] = frozenset()
    # For a follow-up condensed with its thread: which of `terms` the follow-up itself says,
    # and the cosine of the follow-up alone and this chunk (`section_order`).
    own_terms: frozenset[str] = frozenset()
    own_score: float | None = None
    # Set for CJK questions under an English embedding model (rag.multilingual):
    # the share of the question's salient words this section holds.
    keyword_relevance: float | None = None
    # The page's navigation sections among the candidates ("Next steps", "See also"):
    # never shown or cited, but their words show the docs know the topic (`relevance`).
    signposts: tuple[Hit, ...] = ()
    # Set for the first few hits when a trained decline model is configured
    # (rag.trained_gate): the probability that this section answers the question.
    answer_probability: float | None = None

    @property
    def url(self) -> str:
        return f"{self.page_url}#{self.anchor}" if self.anchor else self.page_url

    def to_dict(self) -> dict[str, object]:
        return {
            "url": self.url,
            "title": self.title,
            "section": self.section,
            "score": round(self.score, 4),
            "text": self.text,
        }


@dataclass
class LoadedIndex:
    version: VersionInfo
    chunks: list[Chunk]
    embeddings: np.ndarray
    keyword: KeywordIndex
    collection: object
    stamp: tuple[int, int] | None = None
    pages: int = 0
    extras: dict[str, object] = field(default_factory=dict)
    titles: TitleIndex | None = None
    # The Chroma client behind `collection`, closed once this version is no longer live
    # and no question still searches it (`Retriever._acquire` / `_release`).
    client: object = None
    users: int = 0
    retired: bool = False


class Gate(str, Enum):
    """Who may answer a question, given how relevant the retrieved sections are."""

    ANSWER = "answer"  # any model, the offline extractive one included
    READER = "reader"  # only a model that reads the sources and can say they don't answer
    DECLINE = "decline"  # nobody: the docs don't cover it


def describe_decline(report: Mapping[str, Any]) -> str:
    """`Retriever.decline_report()` in one line, for the status page and `/docbot status`."""
    thresholds = f"thresholds {report['min_relevance']} / {report['llm_min_relevance']}"
    model = report["model"]
    if model is None:
        return f"{thresholds}; no trained decline model"
    return (
        f"{thresholds}; model {model['path']} (weight {model['weight']}, "
        f"{model['sections_judged']} sections judged, {model['runtime']})"
    )


def gate(relevance: float, min_relevance: float, llm_min_relevance: float) -> Gate:
    """The gate for a relevance score; `llm_min_relevance` above `min_relevance` counts as equal."""
    if relevance >= min_relevance:
        return Gate.ANSWER
    if relevance >= min(llm_min_relevance, min_relevance):
        return Gate.READER
    return Gate.DECLINE


def is_followup(question: str, history: list[Turn] | None) -> bool:
    """A short message after an earlier question of the thread ("and for katib?")."""
    return (
        bool(history)
        and len(question.split()) <= FOLLOWUP_MAX_WORDS
        and bool(_earlier_questions(question, history))
    )


def _earlier_questions(question: str, history: list[Turn] | None) -> list[str]:
    """The thread's user messages before `question`, oldest first (the question itself,
    when the history already holds it, left out)."""
    return [
        t.text for t in history or [] if t.role == "user" and t.text.strip() != question.strip()
    ]


def condense_query(
    question: str,
    history: list[Turn] | None,
    names_topic: Callable[[str], bool] | None = None,
) -> str:
    """Fold a short follow-up into the thread's last question, for retrieval.

    "and for katib?" after "how do I install notebooks" becomes
    "and for katib? how do I install notebooks": the follow-up's own words
    come first (they weigh more in the fused ranking, see `search`).

    When the last question names no topic of its own (`names_topic`: "can i switch
    it off for a whole run too?", "the pod events look fine"), the question before
    it is joined too, and so on back to where the thread last named one, at most
    `FOLLOWUP_MAX_JOINED` questions. One that does name it ("createpvc and then
    mount_pvc, right?") stands for the thread alone: an older question would only
    dilute it.
    """
    if not is_followup(question, history):
        return question
    earlier = _earlier_questions(question, history)
    joined = [earlier[-1]]
    for text in reversed(earlier[:-1]):
        if names_topic is None or names_topic(joined[-1]) or len(joined) >= FOLLOWUP_MAX_JOINED:
            break
        joined.append(text)
    return " ".join([question, *joined])


def rrf(rankings: list[tuple[list[int], float]], k: int = RRF_K) -> dict[int, float]:
    """Weighted reciprocal-rank fusion: row -> sum of weight / (k + rank), rank from 1."""
    fused: dict[int, float] = {}
    for rows, weight in rankings:
        for rank, row in enumerate(rows):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank + 1)
    return fused


def rank_fusion(rankings: list[tuple[list[int], float]], k: int = RRF_K) -> dict[int, float]:
    """`rrf` on the scale of a cosine: 1.0 for a row first in every ranking.

    Page ranking adds title matches and a page's second section to these
    scores with weights chosen on the cosine scale; raw RRF values (about
    0.03) would let the title decide alone.
    """
    best = sum(weight for _, weight in rankings) / (k + 1)
    if best <= 0:
        return rrf(rankings, k)
    return {row: value / best for row, value in rrf(rankings, k).items()}


def fuse_scores(
    rows: list[int], sims: np.ndarray, kw_rows: np.ndarray, kw_scores: np.ndarray
) -> dict[int, float]:
    """row -> cosine + KEYWORD_SCORE_WEIGHT * BM25 relative to this query's best BM25.

    Scores rather than ranks: how far ahead a section is matters for choosing
    between two sections of one page and for letting a clear winner repeat.
    """
    bm25: dict[int, float] = {}
    if len(kw_scores):
        top = float(kw_scores[0]) or 1.0
        bm25 = {
            int(r): float(s) / top
            for r, s in zip(kw_rows.tolist(), kw_scores.tolist(), strict=True)
        }
    return {
        row: float(sim) + KEYWORD_SCORE_WEIGHT * bm25.get(row, 0.0)
        for row, sim in zip(rows, sims.tolist(), strict=True)
    }


def rank_pages(
    hits: list[Hit],
    title_scores: dict[str, float] | None = None,
    priors: dict[str, float] | None = None,
) -> list[tuple[str, float, list[Hit]]]:
    """(page, content score, its hits best first), best page first.

    `hits` must be sorted by `fused`, best first. A page's content score is its
    best section's fused score plus `PAGE_SUPPORT` times its second best; pages
    are ordered by that plus `TITLE_WEIGHT` times their title match (0..1,
    `rag.keyword.TitleIndex`).
    """
    title_scores = title_scores or {}
    priors = priors or {}
    by_page: dict[str, list[Hit]] = {}
    for hit in hits:
        by_page.setdefault(hit.page_url, []).append(hit)
    ranked = []
    for page, page_hits in by_page.items():
        score = page_hits[0].fused + priors.get(page, 0.0)
        if len(page_hits) > 1:
            score += PAGE_SUPPORT * page_hits[1].fused
        ranked.append((score + TITLE_WEIGHT * title_scores.get(page, 0.0), page, score, page_hits))
    ranked.sort(key=lambda p: p[0], reverse=True)
    return [(page, score, page_hits) for _, page, score, page_hits in ranked]


def section_order(hit: Hit) -> float:
    """How a page's sections are ordered: by fused score, a follow-up's own cosine added."""
    if hit.own_score is None:
        return hit.fused
    return hit.fused + FOLLOWUP_SECTION_WEIGHT * hit.own_score


def arrange(
    hits: list[Hit],
    k: int,
    title_scores: dict[str, float] | None = None,
    priors: dict[str, float] | None = None,
) -> list[Hit]:
    """Best section of each page in page order, then further sections; see the module doc."""
    pages = [
        (page, score, sorted(page_hits, key=section_order, reverse=True))
        for page, score, page_hits in rank_pages(hits, title_scores, priors)
    ]
    if not pages:
        return []
    firsts = [p[2][0] for p in pages]
    rest = [h for p in pages for h in p[2][1:]]
    top_hits = pages[0][2]
    leads = len(pages) == 1 or pages[0][1] - pages[1][1] >= LEAD
    if leads and k > 1:
        anchors = {top_hits[0].anchor}
        extra: list[Hit] = []
        for h in top_hits[1:]:
            if len(extra) >= REPEAT:
                break
            if h.anchor not in anchors:  # another piece of the same section adds nothing
                extra.append(h)
                anchors.add(h.anchor)
        for i, h in enumerate(extra):
            firsts.insert(1 + i, h)
            rest.remove(h)
    return (firsts + rest)[:k]


class Retriever:
    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.synonyms = load_synonyms(settings.synonyms_file)  # a bad file fails here, at start
        self.store = IndexStore(settings)
        self._embedder = embedder
        self._index: LoadedIndex | None = None
        self._lock = threading.Lock()
        # guards LoadedIndex.users / retired; not `_lock`, which a load holds for seconds
        self._use_lock = threading.Lock()
        self._reranker: object | None = None  # False: configured but failed to load
        # Asked for every candidate spelling of an unknown word (rag.answerability), each a
        # tokenizer call: remembered, so a follow-up's own words and repeated questions
        # cost nothing the second time.
        self._is_single_piece = functools.lru_cache(maxsize=SINGLE_PIECE_CACHE)(
            self._tokenizes_whole
        )
        # a trained decline model brings the thresholds fitted for its combined score; one
        # that does not load stops the start, with its reason (later ones: _refresh_gate)
        self._gate_lock = threading.Lock()
        self._gate_stamp = self._gate_file_stamp()
        self.trained_gate: TrainedGate | None = (
            load_gate(settings.gate_model, settings.embedding_model, settings.embedding_device)
            if settings.gate_model
            else None
        )
        self.min_relevance, self.llm_min_relevance = self._thresholds(self.trained_gate)

    def _thresholds(self, trained_gate: TrainedGate | None) -> tuple[float, float]:
        """(min_relevance, llm_min_relevance): the operator's, else the gate model's, else ours."""
        settings = self.settings
        default_min, default_llm = (
            (trained_gate.config.min_relevance, trained_gate.config.llm_min_relevance)
            if trained_gate is not None
            else (DEFAULT_MIN_RELEVANCE, DEFAULT_LLM_MIN_RELEVANCE)
        )
        min_relevance = settings.min_relevance if settings.min_relevance >= 0 else default_min
        llm = settings.llm_min_relevance
        if llm < 0:  # an operator's own DOCBOT_MIN_RELEVANCE alone keeps one gate for all
            llm = default_llm if settings.min_relevance < 0 else min_relevance
        return min_relevance, min(llm, min_relevance)

    def decline_report(self) -> dict[str, Any]:
        """The decline thresholds in force and the trained decline model serving, if any
        (/healthz, `/docbot status`): after a retraining, the new one once a question loaded it."""
        gate = self.trained_gate
        return {
            "min_relevance": round(self.min_relevance, 3),
            "llm_min_relevance": round(self.llm_min_relevance, 3),
            "model": {
                "path": self.settings.gate_model,
                "weight": gate.config.weight,
                "sections_judged": gate.config.passages,
                "question_sets": len(gate.config.trained_on),
                "runtime": getattr(gate.scorer, "name", "torch"),
            }
            if gate is not None
            else None,
        }

    def _gate_file_stamp(self) -> tuple[int, int] | None:
        if not self.settings.gate_model:
            return None
        try:
            stat = (gate_dir(self.settings) / GATE_FILE).stat()
        except OSError:  # absent, or being swapped (rag.gate_job)
            return None
        return stat.st_mtime_ns, stat.st_size

    def _refresh_gate(self) -> None:
        """Serve a decline model retrained in place from the next question, as a new index
        version is: `rag.gate_job` swaps a new folder in where the old one was. One that does
        not load is logged once and the loaded one keeps serving."""
        stamp = self._gate_file_stamp()
        if stamp is None or stamp == self._gate_stamp:
            return
        if not self._gate_lock.acquire(blocking=False):
            return  # another question's thread is loading it
        try:
            if stamp == self._gate_stamp:
                return
            self._gate_stamp = stamp  # tried once per change, whatever the outcome
            settings = self.settings
            try:
                trained_gate = load_gate(
                    settings.gate_model, settings.embedding_model, settings.embedding_device
                )
            except ConfigError as exc:
                log.warning(
                    "the decline model changed but does not load; keeping the one loaded: %s", exc
                )
                return
            thresholds = self._thresholds(trained_gate)
            self.trained_gate = trained_gate
            self.min_relevance, self.llm_min_relevance = thresholds
            log.info("decline model reloaded: thresholds %.3f / %.3f", *thresholds)
        finally:
            self._gate_lock.release()

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(
                self.settings.embedding_model,
                self.settings.embedding_device,
                self.settings.embedding_batch_size,
            )
        return self._embedder

    @property
    def reranker(self):  # noqa: ANN201 - rag.rerank.Reranker | None, imported lazily
        """The configured cross-encoder, loaded on first use; None when not configured."""
        if not self.settings.reranker_model:
            return None
        if self._reranker is None:
            from rag.rerank import get_reranker

            try:
                self._reranker = get_reranker(
                    self.settings.reranker_model, self.settings.embedding_device
                )
            except Exception as exc:  # a missing model must not take retrieval down
                log.error(
                    "reranker %r could not be loaded (%s: %s); ranking without it",
                    self.settings.reranker_model,
                    type(exc).__name__,
                    exc,
                )
                self._reranker = False
        return self._reranker or None

    @property
    def index(self) -> LoadedIndex | None:
        self.refresh()
        return self._index

    def refresh(self) -> bool:
        """Load the live version (and a retrained decline model) if it changed. Returns True
        when a version is loaded."""
        self._refresh_gate()
        stamp = self.store.pointer_stamp()
        current = self._index
        if current is not None and current.stamp == stamp:
            return True
        with self._lock:
            if self._index is not None and self._index.stamp == stamp:
                return True
            vid = self.store.current_id()
            if vid is None:
                previous, self._index = self._index, None
                self._retire(previous)
                return False
            if self._index is not None and self._index.version.id == vid:
                self._index.stamp = stamp
                return True
            try:
                previous, self._index = self._index, self._load(self.store.version(vid), stamp)
                self._retire(previous)
            except Exception:
                # keep serving the previous version rather than nothing
                log.exception("could not load index version %s; keeping the previous one", vid)
                if self._index is None:
                    raise
            return self._index is not None

    def _retire(self, index: LoadedIndex | None) -> None:
        """`index` is no longer live: close its Chroma client now, or when the last question
        still searching it is done (`_release`). Otherwise every version this process ever
        served stays open, pruned ones too, and their disk space is never freed."""
        if index is None:
            return
        with self._use_lock:
            index.retired = True
            idle = index.users == 0
        if idle:
            close_client(index.client)

    def _acquire(self) -> LoadedIndex | None:
        """The live index (refreshed), kept open until `_release`, even if a newer version
        is switched to meanwhile."""
        while True:
            index = self.index
            if index is None:
                return None
            with self._use_lock:
                if not index.retired:
                    index.users += 1
                    return index
            # switched away from between the refresh and here: take the new one

    def _release(self, index: LoadedIndex | None) -> None:
        if index is None:
            return
        with self._use_lock:
            index.users -= 1
            idle = index.retired and index.users == 0
        if idle:
            close_client(index.client)

    def _load(self, version: VersionInfo, stamp: tuple[int, int] | None) -> LoadedIndex:
        started = time.perf_counter()
        chunks = self.store.read_chunks(version)
        embeddings = self.store.read_embeddings(version)
        keyword = KeywordIndex(version.path / "bm25", len(chunks))
        client = chroma_client(self.settings, version.path)
        try:
            collection = client.get_collection(collection_name(version.id), embedding_function=None)
            model = version.manifest.get("embedding_model")
            if model and model != self.embedder.name:
                raise IndexStoreError(
                    f"index {version.id} was embedded with {model!r} but DOCBOT_EMBEDDING_MODEL is {self.embedder.name!r}; re-run `docbot index`"
                )
        except BaseException:
            close_client(client)  # not served: refresh retries it, one more client each time
            raise
        log.info(
            "loaded index version %s: %d chunks in %.2fs",
            version.id,
            len(chunks),
            time.perf_counter() - started,
        )
        keyword.ordinary = self._is_single_piece
        keyword.prepare()  # the typo table now, not inside the first question's timing
        lexicon.warm()  # likewise the English word list (rag.answerability)
        titles = TitleIndex(list({c.page_url: c.title for c in chunks}.items()))
        return LoadedIndex(
            version,
            chunks,
            embeddings,
            keyword,
            collection,
            stamp,
            pages=version.page_count,
            titles=titles,
            client=client,
        )

    def _tokenizes_whole(self, word: str) -> bool:
        """Whether the embedding model's tokenizer keeps `word` as one piece."""
        try:
            return self.embedder.count_tokens(word) == 1
        except Exception:  # a tokenizer that cannot say: treat the word as ordinary
            return True

    def term_weight(self, word: str) -> float:
        """How telling a (tokenized) word is in the live docs: its IDF; 1.0 with no index.

        The offline answerer weighs the question's words by it when choosing sentences.
        The index already loaded is used as is: the search that came first refreshed it.
        """
        index = self._index
        return index.keyword.idf(word) if index is not None else 1.0

    def _is_plain_word(self, word: str) -> bool:
        """Ordinary language for the answerability check: a whole tokenizer word, or a
        common English one the tokenizer splits ("wiki"). Typo correction keeps asking
        the tokenizer alone (`keyword.ordinary`), as it was tuned that way."""
        return self._is_single_piece(word) or lexicon.is_common(word)

    def search(
        self, question: str, k: int = 5, history: list[Turn] | None = None, *, diverse: bool = True
    ) -> list[Hit]:
        """Best `k` sections for a question, best first; [] when no index is live.

        For CJK questions under an English-only embedding model, each hit also
        carries its keyword relevance (rag.multilingual), which `relevance` then
        judges instead of the cosine.
        """
        # one refresh per search: condensing and searching share it, and its Chroma client
        # stays open until this search is done, even if a new version is published meanwhile
        index = self._acquire()
        try:
            query = self._condense(index, question, history)
            earlier = _earlier_questions(question, history)
            bonus = legacy_bonus(question, earlier, followup=is_followup(question, history))
            hits = self._search(index, question, query, k, diverse=diverse, legacy=bonus)
        finally:
            self._release(index)
        if hits and index is not None and uses_keyword_evidence(query, self.embedder.name):
            for hit in hits:
                tokens = keyword_text(index.chunks[hit.row])
                hit.keyword_relevance = keyword_relevance(query, tokens, index.keyword.idf)
        elif hits and self.trained_gate is not None:
            self.trained_gate.judge(query, hits)
        return hits

    def condense(self, question: str, history: list[Turn] | None) -> str:
        """`condense_query`, with a topic judged by the live index's term weights."""
        return self._condense(self.index, question, history)

    def _condense(
        self, index: LoadedIndex | None, question: str, history: list[Turn] | None
    ) -> str:
        if index is None:
            return condense_query(question, history)
        floor = TOPIC_SHARE * index.keyword.max_idf

        def names_topic(text: str) -> bool:
            return any(t.weight >= floor for t in self._salient(index.keyword, text))

        return condense_query(question, history, names_topic)

    def _salient(self, kw: KeywordIndex, text: str) -> tuple[Term, ...]:
        """The salient terms of `text` as this index weighs them (`rag.answerability`)."""
        return salient_terms(text, kw.correct, kw.idf, self._is_plain_word, kw.max_idf, kw.has_word)

    def _embed_question(self, index: LoadedIndex, text: str) -> np.ndarray:
        """The query vector of `text` (`_embed_questions`)."""
        return self._embed_questions(index, [text])[0]

    def _embed_questions(self, index: LoadedIndex, texts: list[str]) -> np.ndarray:
        """The query vectors of `texts` in one encoder call, typos of corpus words fixed
        first (`RESPELL`)."""
        kw = index.keyword
        return self.embedder.embed_queries([kw.respell(t) if RESPELL else t for t in texts])

    def _query_vectors(
        self, index: LoadedIndex, question: str, terms: tuple[Term, ...] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The vectors `_search` ranks with and scores with (`Hit.score`, which declines).

        Both are the question's (`_embed_question`) unless it is asked on its own (`terms`
        given) and has salient words: then CONTENT_WEIGHT times the vector of those words
        alone is added, normalised, and scores; it ranks too when there are two or more
        words. One word alone ("jupyter") pulls towards any page about it, not the one the
        question asks for, so the question's own vector still ranks. One encode call.
        """
        kw = index.keyword
        texts = [question]
        words: list[str] = []
        if terms is not None:
            words = salient_words(question, terms, kw.correct, CONTENT_SHARE * kw.max_idf)
            if words:
                texts.append(" ".join(words))
        vectors = self._embed_questions(index, texts)
        if len(vectors) == 1:
            return vectors[0], vectors[0]
        mixed = vectors[0] + CONTENT_WEIGHT * vectors[1]
        mixed /= np.linalg.norm(mixed) or 1.0
        return (mixed if len(words) > 1 else vectors[0]), mixed

    def _search(
        self,
        index: LoadedIndex | None,
        question: str,
        query: str,
        k: int,
        *,
        diverse: bool,
        legacy: float = 0.0,
    ) -> list[Hit]:
        """Sections for `query`, the question as condensed with its thread (`condense`);
        `legacy` is what legacy pages gain (`rag.versions.legacy_bonus`)."""
        if index is None or not index.chunks:
            return []
        dense_scale, _ = fusion_weights(query, self.embedder.name)
        kw = index.keyword
        terms = self._salient(kw, query)
        rank_vec, score_vec = self._query_vectors(
            index, query, terms if query == question else None
        )
        n = min(CANDIDATES, len(index.chunks))
        collection = index.collection
        dense = collection.query(query_embeddings=[rank_vec], n_results=n, include=["metadatas"])  # type: ignore[attr-defined]
        dense_rows = [int(m["row"]) for m in dense["metadatas"][0]]
        # the follow-up's own words twice, so they outweigh the thread's; the docs' words
        # for chat shorthand ("terminal" -> "cli") once
        kw_query = query if query == question else f"{question} {query}"
        kw_tokens = index.keyword.query_tokens(
            f"{kw_query} {expansion(query, self.synonyms)}".rstrip()
        )
        kw_rows, kw_scores = index.keyword.search_tokens(kw_tokens, n)
        rows = list(dict.fromkeys([*dense_rows, *kw_rows.tolist()]))
        vectors = np.asarray(index.embeddings[rows], dtype=np.float32)
        sims = vectors @ score_vec if rows else np.zeros(0)
        rank_sims = sims if rank_vec is score_vec else vectors @ rank_vec
        own_sims: np.ndarray | None = None
        if query != question and rows:
            own_sims = vectors @ self._embed_question(index, question)
        if self.settings.fusion == "rank":
            fused = rank_fusion(
                [(dense_rows, DENSE_WEIGHT * dense_scale), (kw_rows.tolist(), KEYWORD_WEIGHT)]
            )
        else:
            fused = fuse_scores(rows, rank_sims * dense_scale, kw_rows, kw_scores)
        order = sorted(range(len(rows)), key=lambda i: fused[rows[i]], reverse=True)
        rows = [rows[i] for i in order]
        sims = sims[order] if len(order) else sims
        if own_sims is not None:
            own_sims = own_sims[order]

        has_term = {t.token: kw.contains_each(t.token, rows) for t in terms if t.known}
        own_terms: frozenset[str] = frozenset()
        if query != question:
            own_terms = frozenset(t.token for t in self._salient(kw, question))
        hits = []
        for i, (row, sim) in enumerate(zip(rows, sims.tolist(), strict=True)):
            c = index.chunks[row]
            covered = frozenset(token for token, mask in has_term.items() if mask[i])
            hits.append(
                Hit(
                    c.id,
                    c.page_url,
                    c.anchor,
                    c.title,
                    c.section,
                    c.text,
                    float(sim),
                    fused[row],
                    c.last_updated,
                    row,
                    terms,
                    covered,
                    own_terms,
                    None if own_sims is None else float(own_sims[i]),
                )
            )
        reranker = self.reranker
        if reranker is not None:
            hits = reranker.rerank(query, hits)  # type: ignore[attr-defined]
        hits = set_aside_signposts(hits)
        if not diverse:
            return hits[:k]
        titles = index.titles.search(kw_tokens, TITLE_CANDIDATES) if index.titles else {}
        priors = {h.page_url: version_prior(h.page_url, legacy) for h in hits}
        if own_terms:
            for page, share in own_coverage(hits, own_terms).items():
                priors[page] += OWN_COVER_WEIGHT * share
        return arrange(hits, k, titles, priors)

    def relevance(self, hits: list[Hit]) -> float:
        """The combined score `is_relevant` thresholds (-1.0 for no hits)."""
        if not hits:
            return -1.0
        judged = [h.keyword_relevance for h in hits if h.keyword_relevance is not None]
        if judged:
            # the cosine of CJK text under an English model says nothing: keywords decide,
            # shifted so that the one threshold (min_relevance) still applies
            return max(judged) - KEYWORD_MIN_RELEVANCE + self.min_relevance
        evidence = [*hits, *(s for h in hits for s in h.signposts)]
        covered: set[str] = set()
        for hit in evidence:
            covered |= hit.covered
        terms = hits[0].terms
        cover = coverage(terms, covered)
        own = [t for t in terms if t.token in hits[0].own_terms]
        own_missing = names_missing(own) or names_rare_word(own, lexicon.is_common)
        if own_missing:
            # a follow-up naming something the docs never mention ("can it go to splunk?",
            # "is there a discord too?") asks about that thing: the thread's well-covered
            # words must not outvote it
            cover = min(cover, coverage(own, covered))
        score = relevance(
            max(h.score for h in evidence), cover, names_missing(terms) or own_missing
        )
        if self.trained_gate is not None:
            score += self.trained_gate.bonus(hits)
        return score

    def is_relevant(self, hits: list[Hit]) -> bool:
        """Whether any model, the offline one included, may answer from these hits."""
        return self.gate(hits) is Gate.ANSWER

    def gate(self, hits: list[Hit]) -> Gate:
        """Who may answer from these hits (see the module doc)."""
        return self.judge(hits)[0]

    def judge(self, hits: list[Hit]) -> tuple[Gate, float]:
        """Who may answer from these hits, and the relevance score that decided it.

        CJK questions judged by keywords (rag.multilingual) have one threshold only: the
        reader gate was calibrated on English questions and the cosine scale.
        """
        keyword_judged = any(h.keyword_relevance is not None for h in hits)
        llm_min = self.min_relevance if keyword_judged else self.llm_min_relevance
        score = self.relevance(hits)
        return gate(score, self.min_relevance, llm_min), score


def own_coverage(hits: list[Hit], own: frozenset[str]) -> dict[str, float]:
    """Per page, the IDF-weighted share of a follow-up's own salient terms its sections
    (and their navigation sections) contain."""
    terms = [t for t in hits[0].terms if t.token in own] if hits else []
    covered: dict[str, set[str]] = {}
    for h in hits:
        page = covered.setdefault(h.page_url, set())
        page |= h.covered
        for s in h.signposts:
            page |= s.covered
    return {page: coverage(terms, words) for page, words in covered.items()}


def set_aside_signposts(hits: list[Hit]) -> list[Hit]:
    """The hits that hold content, each carrying its page's navigation sections.

    A "Next steps" list names the topics of other pages in a few words, so it often
    has the best cosine of its page: ranked as content it would outrank the section
    that answers, and a reader gets a list of links. It stays evidence that the docs
    cover the topic, for the decline (`Retriever.relevance`). When every hit is
    navigation (a tiny docs set), they are all kept.
    """
    content: list[Hit] = []
    by_page: dict[str, list[Hit]] = {}
    for h in hits:
        if is_navigation(h.section):
            by_page.setdefault(h.page_url, []).append(h)
        else:
            content.append(h)
    if not content:
        return hits
    for h in content:
        h.signposts = tuple(by_page.get(h.page_url, ()))
    return content


def diversify(hits: list[Hit], k: int) -> list[Hit]:
    """Best hit of each page first; a page's further hits only fill what is left."""
    firsts: list[Hit] = []
    rest: list[Hit] = []
    seen: set[str] = set()
    for hit in hits:
        (rest if hit.page_url in seen else firsts).append(hit)
        seen.add(hit.page_url)
    return (firsts + rest)[:k]
