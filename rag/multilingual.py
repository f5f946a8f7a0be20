"""Retrieval for questions in Korean, Japanese and Chinese (pure functions).

The packaged embedding model (English all-MiniLM-L6-v2) has almost no Hangul,
Han or Kana in its vocabulary: a Korean sentence becomes a handful of unknown
or single-character pieces, and its cosine similarity to any Korean section is
high and flat (0.6-0.8 whatever the topic). Two consequences for the retriever
(`rag.retrieve`), which calls the functions here:

1. Fusion. For a question whose meaning is mostly in CJK script, the dense
   ranking is noise, so reciprocal-rank fusion should lean on keyword search
   (BM25 over character bigrams, `rag.tokenize`). `fusion_weights(question,
   model_name, dense, keyword)` returns the two weights of the fusion:
   unchanged for English questions and for multilingual models, the dense
   weight scaled down by the question's CJK share otherwise. Mixed questions
   ("Slack에 docbot을 어떻게 연결하나요?") keep some dense weight for their
   English words.

2. Declining. "Top cosine >= threshold" says nothing for such questions, so
   when `uses_keyword_evidence(question, model_name)` is true the retriever
   should decide with `keyword_relevance(question, section, idf)` instead:
   the IDF-weighted share of the question's salient keyword tokens (CJK
   bigrams without question endings and particles, English words without
   stop words) that the best retrieved section contains, compared with
   `KEYWORD_MIN_RELEVANCE`. A Korean question the docs don't cover ("휴가
   신청은 어떻게 하나요?") has rare or never-seen bigrams (휴가) that no
   section holds.

With a multilingual model (`is_multilingual_model`: multilingual E5, BGE-M3,
paraphrase-multilingual-*, LaBSE, distiluse-base-multilingual-*, ...) the
dense half understands Korean, so the retriever keeps its usual weights and
its cosine-based decision.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rag.tokenize import STOPWORDS, is_cjk, tokenize

# A Hangul syllable or Han character carries about as much meaning as three
# Latin letters (one Korean syllable ~ one English syllable), so a CJK char
# counts this many times when measuring how much of a question is CJK.
CJK_CHAR_WEIGHT = 3.0

# Below this CJK share a question is treated as English (a product name in
# Hangul inside an English sentence should not change anything).
CJK_DOMINANT_SHARE = 0.5

# Floor of the dense weight's scale for a fully CJK question with an English
# model. On tests/data/ko_questions.jsonl (bench/bench_korean.py) no scaling (1.0)
# gives page recall@1 0.64 and MRR@10 0.78, a floor of 0 gives 0.82 and 0.91, and
# floors of 0.1-0.5 are within one question of that: the English MiniLM's ranking
# of Korean text adds nothing, so none of it is kept.
MIN_DENSE_SCALE = 0.0

# Calibrated on tests/data/ko_questions.jsonl with the packaged MiniLM over docs/
# (bench/bench_korean.py --calibrate): the best keyword relevance among the sections
# the pipeline answers from is >= 0.34 for every answerable Korean question and
# <= 0.19 for the uncovered ones but two (0.37, 0.38: "음성", "와이파이" questions
# whose other words the docs use); the threshold sits in that gap, on the side
# of answering.
KEYWORD_MIN_RELEVANCE = 0.3

# Model-name patterns (lower-cased substrings) of embedding models trained on
# many languages, Korean included. Checked against the configured name or path.
MULTILINGUAL_PATTERNS: tuple[str, ...] = (
    "multilingual",  # paraphrase-multilingual-*, multilingual-e5-*, distiluse-base-multilingual-*
    "bge-m3",
    "labse",
    "xlm-r",
    "xlm-roberta",
    "m-e5",
    "me5-",
    "gte-multilingual",
    "jina-embeddings-v3",
    "nomic-embed-text-v2",
    "ko-sroberta",
    "ko-sbert",
    "kosimcse",
    "kure-",
    "snowflake-arctic-embed-l-v2",
    "qwen3-embedding",
)

# Korean bigrams that are question endings, auxiliaries or generic verbs: every
# question has them and they say nothing about the topic ("어떻게 ...하나요?").
KO_FUNCTION_BIGRAMS = frozenset(
    """어떻 떻게 어떤 무엇 엇인 인가 가요 나요 하나 하나요 니까 습니 합니 니다 하려 려면 려고
    있나 나요 는지 은지 할까 까요 해야 야하 하면 되나 되는 있는 있을 수있 없나 없는 해요 세요
    주세 으면 이나 에서 으로 하는 하고 한다 했는 왜그 그런 런가 인지 건가 건지 을까 를까 알려
    려주 줘요 이에 에는 에도 하기 방법 법은 법이 뭔가 뭐예 예요 뭐야 싶어 어요 있어 줘야 해야""".split()
)

_LATIN_WORD = re.compile(r"[a-z0-9]")
# Pieces of a whitespace-separated word: Hangul, Hiragana (Japanese particles and
# endings: の, を, は, する), Katakana/Han (Japanese and Chinese content words), the rest.
_HANGUL = "\uac00-\ud7af"
_HIRAGANA = "\u3040-\u309f"
_KATAKANA_HAN = "\u30a0-\u30ff\uff66-\uff9f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_PIECES = re.compile(
    f"[{_HANGUL}]+|[{_HIRAGANA}]+|[{_KATAKANA_HAN}]+|[^{_HANGUL}{_HIRAGANA}{_KATAKANA_HAN}]+"
)


@dataclass(frozen=True)
class ScriptProfile:
    """Letter counts of a text by script (digits and punctuation not counted)."""

    hangul: int = 0
    han: int = 0
    kana: int = 0
    latin: int = 0
    other: int = 0

    @property
    def cjk(self) -> int:
        return self.hangul + self.han + self.kana

    @property
    def cjk_share(self) -> float:
        """Share of the text's meaning carried by CJK script, 0..1 (see `CJK_CHAR_WEIGHT`)."""
        weighted = self.cjk * CJK_CHAR_WEIGHT
        total = weighted + self.latin + self.other
        return weighted / total if total else 0.0

    @property
    def dominant(self) -> str:
        """'hangul', 'kana', 'han', 'latin', 'other' or '' (no letters): the main script.

        Japanese mixes Kana and Han, so any Kana wins over Han; Hangul wins
        over both (Korean text may quote Han characters).
        """
        if self.cjk and self.cjk_share >= CJK_DOMINANT_SHARE:
            if self.hangul:
                return "hangul"
            return "kana" if self.kana else "han"
        if self.latin >= self.other and self.latin:
            return "latin"
        return "other" if self.other else ""


def _script(ch: str) -> str:
    code = ord(ch)
    if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return "hangul"
    if 0x3040 <= code <= 0x30FF or 0xFF66 <= code <= 0xFF9F:
        return "kana"
    if is_cjk(ch):
        return "han"
    if ch.isascii():
        return "latin" if ch.isalpha() else ""
    if ch.isalpha():
        # Latin with diacritics (é, ü) reads like Latin to an English model
        return "latin" if "LATIN" in _unicode_name(ch) else "other"
    return ""


def _unicode_name(ch: str) -> str:
    import unicodedata

    return unicodedata.name(ch, "")


def script_profile(text: str) -> ScriptProfile:
    counts = {"hangul": 0, "han": 0, "kana": 0, "latin": 0, "other": 0}
    for ch in text:
        script = _script(ch)
        if script:
            counts[script] += 1
    return ScriptProfile(**counts)


def is_multilingual_model(name: str) -> bool:
    """Whether an embedding model (name or local path) was trained on Korean, Japanese, Chinese."""
    lowered = name.lower().replace("_", "-")
    return any(pattern in lowered for pattern in MULTILINGUAL_PATTERNS)


def uses_keyword_evidence(question: str, model_name: str) -> bool:
    """True when the retriever should judge relevance by keywords, not by cosine.

    That is when the question is mostly CJK and the embedding model is not
    multilingual: its cosine similarities for such text are meaningless.
    """
    if is_multilingual_model(model_name):
        return False
    return script_profile(question).cjk_share >= CJK_DOMINANT_SHARE


def fusion_weights(
    question: str, model_name: str, dense: float = 1.0, keyword: float = 1.0
) -> tuple[float, float]:
    """(dense weight, keyword weight) for fusing this question's two result lists.

    `dense` and `keyword` are the retriever's usual weights, returned unchanged
    for multilingual models and for questions that are not CJK-dominant. For a
    CJK-dominant question and an English model the dense weight is scaled by
    the question's non-CJK share (never below `MIN_DENSE_SCALE`), so a mixed
    question keeps some dense weight for its English words and a purely
    Korean one is ranked by keywords alone.
    """
    if is_multilingual_model(model_name):
        return dense, keyword
    share = script_profile(question).cjk_share
    if share < CJK_DOMINANT_SHARE:
        return dense, keyword
    scale = max(MIN_DENSE_SCALE, 1.0 - share)
    return dense * scale, keyword


# Particles and verb endings glued to the end of a Korean word (권한"을", 연결"하나요"):
# their bigrams with the word's last syllable (한을, 결하) are rare or absent in the
# docs and would count as missing evidence, so they are cut off before bigramming.
# Longest first. A cut must leave two syllables, except for the endings in
# `KO_SUFFIXES_ANY_STEM`, which never end a noun (봇을 -> 봇, 쓰려면 -> 쓰): syllables
# like 가, 로, 과 do (추가, 경로, 결과).
KO_SUFFIXES: tuple[str, ...] = tuple(
    sorted(
        """에서는 에서도 으로는 에게는 이라는 하려면 하나요 인가요 할까요 되나요 했는데 합니다
        습니다 라는 에서 에게 으로 까지 부터 처럼 보다 이랑 에는 에도 려면 나요 가요 까요 니다
        해야 해요 돼요 는데 하면 으면 한가 은 는 이 가 을 를 에 의 도 로 와 과 만 랑 요 면 해
        돼 야 죠 줘 고 됐 했""".split(),
        key=len,
        reverse=True,
    )
)
KO_SUFFIXES_ANY_STEM = frozenset(
    [s for s in KO_SUFFIXES if len(s) > 1 and s not in ("이라는", "라는")] + list("을를는에랑")
)


def strip_ko_suffix(word: str, rounds: int = 2) -> str:
    """A Hangul word without its trailing particles and endings ("권한을" -> "권한")."""
    for _ in range(rounds):
        for suffix in KO_SUFFIXES:
            min_stem = 1 if suffix in KO_SUFFIXES_ANY_STEM else 2
            if word.endswith(suffix) and len(word) - len(suffix) >= min_stem:
                word = word[: -len(suffix)]
                break
        else:
            break
    return word


def _keep(token: str) -> bool:
    if is_cjk(token[0]):
        return len(token) >= 2 and token not in KO_FUNCTION_BIGRAMS
    return token not in STOPWORDS and bool(_LATIN_WORD.search(token))


def salient_words(question: str) -> list[tuple[str, ...]]:
    """The question's content words, each as its keyword tokens, each word once.

    A CJK word is one entry holding its bigrams: Korean words lose their
    particles and endings first (`strip_ko_suffix`), Japanese text is cut at
    its Hiragana (particles and endings: の, を, は, する), which is dropped.
    Other tokens are an entry each. Question-word bigrams
    (`KO_FUNCTION_BIGRAMS`), single CJK characters (mostly particles: 에, 을,
    는) and English stop words are dropped. Falls back to all tokens when
    nothing is left ("무엇인가요?").
    """
    words: dict[tuple[str, ...], None] = {}
    for word in question.lower().split():
        for piece in _PIECES.findall(word):
            first = ord(piece[0])
            if 0x3040 <= first <= 0x309F:
                continue  # Hiragana: Japanese grammar, not topic
            hangul = 0xAC00 <= first <= 0xD7AF
            kept = [t for t in tokenize(strip_ko_suffix(piece) if hangul else piece) if _keep(t)]
            if kept and is_cjk(kept[0][0]):
                words.setdefault(tuple(dict.fromkeys(kept)), None)
            else:
                for token in kept:
                    words.setdefault((token,), None)
    if not words:
        words = {(t,): None for t in tokenize(question)}
    return list(words)


def salient_tokens(question: str) -> list[str]:
    """Every token of `salient_words`, each once, in order."""
    return list(dict.fromkeys(t for word in salient_words(question) for t in word))


def keyword_relevance(
    question: str,
    section: str | Iterable[str],
    idf: Callable[[str], float] | None = None,
) -> float:
    """How much (0..1) of the question's salient words a section contains.

    `section` is the section's text (heading path plus body: it is tokenized
    like the index is) or its keyword tokens already. Each word of
    `salient_words` counts with the share of its tokens found (a long Korean
    word is one word, not five bigrams that would outweigh the rest), weighted
    by its tokens' mean `idf` when given (e.g. `KeywordIndex.idf`, which gives
    never-seen tokens the highest value): topic words count more than words
    every page uses ("docbot"), a word no page has counts most. Without `idf`
    every word weighs the same. 1.0 when the question has no tokens at all.

    The retriever should take the best value over the sections it would
    answer from and decline below `KEYWORD_MIN_RELEVANCE`.
    """
    words = salient_words(question)
    if not words:
        return 1.0
    have = set(tokenize(section)) if isinstance(section, str) else set(section)
    total = 0.0
    found = 0.0
    for word in words:
        weight = sum(idf(t) for t in word) / len(word) if idf is not None else 1.0
        total += weight
        found += weight * sum(t in have for t in word) / len(word)
    return found / total if total > 0 else 0.0


def best_keyword_relevance(
    question: str,
    sections: Iterable[str | Iterable[str]],
    idf: Callable[[str], float] | None = None,
) -> float:
    """The highest `keyword_relevance` over sections (0.0 when there are none)."""
    return max((keyword_relevance(question, s, idf) for s in sections), default=0.0)


__all__ = [
    "CJK_DOMINANT_SHARE",
    "KEYWORD_MIN_RELEVANCE",
    "MULTILINGUAL_PATTERNS",
    "ScriptProfile",
    "best_keyword_relevance",
    "fusion_weights",
    "is_multilingual_model",
    "keyword_relevance",
    "salient_tokens",
    "salient_words",
    "strip_ko_suffix",
    "script_profile",
    "uses_keyword_evidence",
]
