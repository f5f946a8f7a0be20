"""Sentence vectors: which sentences a chunk has, how they are stored, reused and compared."""

from __future__ import annotations

import numpy as np

from rag.sentences import (
    MAX_PER_CHUNK,
    SentenceVectors,
    build_sentence_vectors,
    by_content,
    split_sentences,
)

DIM = 4


def test_sentences_end_at_punctuation_and_line_breaks() -> None:
    text = "Backups run nightly at two. Restore one from the admin page!\n- keep seven copies here"
    assert split_sentences(text) == [
        "Backups run nightly at two.",
        "Restore one from the admin page!",
        "- keep seven copies here",
    ]


def test_fragments_of_fewer_than_three_words_are_left_out() -> None:
    assert split_sentences("Next steps\n\nSee also.\nRead the backup guide.") == [
        "Read the backup guide."
    ]


def test_a_chunk_gives_at_most_max_per_chunk_sentences() -> None:
    text = " ".join(f"Sentence number {i} here." for i in range(MAX_PER_CHUNK + 5))
    sentences = split_sentences(text)
    assert len(sentences) == MAX_PER_CHUNK and sentences[0] == "Sentence number 0 here."


def fake_embed(calls: list[list[str]]):  # noqa: ANN201
    """A deterministic stand-in encoder: one unit vector per distinct word count."""

    def embed(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i, len(text.split()) % DIM] = 1.0
        return out

    return embed


def test_each_chunk_owns_its_sentences_in_order_and_all_are_embedded_in_one_call() -> None:
    calls: list[list[str]] = []
    texts = ["One two three. Four five six seven.", "Too short", "Eight nine ten eleven twelve."]
    vectors, embedded = build_sentence_vectors(texts, fake_embed(calls), DIM)
    assert len(calls) == 1 and embedded == 3
    assert vectors.offsets.tolist() == [0, 2, 2, 3]
    assert vectors.chunk_count == 3 and vectors.vectors.dtype == np.float16
    assert len(vectors.of(1)) == 0


def test_the_best_sentence_cosine_and_none_for_a_chunk_without_sentences() -> None:
    vectors = SentenceVectors(
        np.array([0, 2, 2]), np.array([[1, 0, 0, 0], [0.6, 0.8, 0, 0]], dtype=np.float16)
    )
    query = np.array([0, 1, 0, 0], dtype=np.float32)
    assert abs(vectors.best(0, query) - 0.8) < 1e-3  # type: ignore[operator]
    assert vectors.best(1, query) is None


def test_unchanged_chunks_reuse_their_vectors_and_only_the_rest_are_embedded() -> None:
    texts = ["One two three. Four five six seven.", "Eight nine ten eleven twelve."]
    first, _ = build_sentence_vectors(texts, fake_embed([]), DIM)
    old = by_content(first, ["hash-a", "hash-b"])
    calls: list[list[str]] = []
    texts2 = [texts[0], "A brand new sentence here."]
    second, embedded = build_sentence_vectors(
        texts2, fake_embed(calls), DIM, lambda i: old.get(["hash-a", "hash-new"][i])
    )
    assert embedded == 1 and calls == [["A brand new sentence here."]]
    assert np.array_equal(second.of(0), first.of(0))


def test_reused_vectors_whose_count_no_longer_matches_are_embedded_again() -> None:
    stale = np.zeros((1, DIM), dtype=np.float16)  # the chunk now has two sentences
    calls: list[list[str]] = []
    _, embedded = build_sentence_vectors(
        ["One two three. Four five six seven."], fake_embed(calls), DIM, lambda _: stale
    )
    assert embedded == 2


def test_sentences_the_model_cannot_read_are_left_out() -> None:
    vectors, embedded = build_sentence_vectors(
        ["Backups run every night. 백업은 매일 밤 실행됩니다 정말로."],
        fake_embed([]),
        DIM,
        keep=lambda s: s.isascii(),
    )
    assert embedded == 1 and vectors.offsets.tolist() == [0, 1]


def test_no_sentences_at_all_still_gives_aligned_offsets() -> None:
    vectors, embedded = build_sentence_vectors(["Hi", ""], fake_embed([]), DIM)
    assert embedded == 0 and vectors.offsets.tolist() == [0, 0, 0]
    assert vectors.vectors.shape == (0, DIM)
    assert by_content(None, ["x"]) == {}
