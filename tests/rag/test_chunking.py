"""Pages to chunks: sections never crossed, headed, within budget, stable ids."""

from __future__ import annotations

from bot.types import SECTION_SEP
from ingest.model import Page, Section
from rag.chunking import Chunk, approx_tokens, chunk_page, chunk_pages


def page(
    *sections: Section, title: str = "Katib", url: str = "https://docs.example.com/katib/"
) -> Page:
    return Page(url=url, title=title, sections=list(sections), last_modified="2024-01-02")


def count_words(text: str) -> int:
    """An additive token count (the real tokenizer is close to additive too)."""
    return len(text.split())


def words(n: int, word: str = "alpha") -> str:
    return " ".join(f"{word}{i}." for i in range(n))


def test_one_chunk_per_short_section_never_crossing_sections() -> None:
    p = page(
        Section("", ["Katib"], "Katib tunes hyperparameters."),
        Section("install", ["Katib", "Installation"], "Run kubectl apply."),
    )
    chunks = chunk_page(p)
    assert [c.anchor for c in chunks] == ["", "install"]
    assert chunks[1].text == "Run kubectl apply."
    assert "Katib tunes" not in chunks[1].embed_text


def test_embed_text_starts_with_the_title_and_heading_path() -> None:
    p = page(Section("install", ["Installation", "On GKE"], "Run kubectl apply."))
    [c] = chunk_page(p)
    assert c.section == SECTION_SEP.join(["Katib", "Installation", "On GKE"])
    assert c.embed_text.startswith("Katib › Installation › On GKE\n")
    assert c.url == "https://docs.example.com/katib/#install"
    assert c.last_updated == "2024-01-02"


def test_a_section_without_a_heading_path_gets_the_title() -> None:
    [c] = chunk_page(page(Section("", [], "Top text.")))
    assert c.section == "Katib" and c.url == "https://docs.example.com/katib/"


def test_long_sections_split_within_the_budget_with_overlap() -> None:
    paragraphs = "\n\n".join(words(30, f"p{i}w") for i in range(12))
    p = page(Section("long", ["Katib", "Long"], paragraphs))
    chunks = chunk_page(p, max_tokens=128, overlap_tokens=50, count_tokens=count_words)
    assert len(chunks) > 3
    for c in chunks:
        assert count_words(c.embed_text) <= 128
        assert c.embed_text.startswith("Katib › Long\n")
        assert c.anchor == "long"
    # consecutive windows share a paragraph (the overlap)
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert set(a.text.split("\n\n")) & set(b.text.split("\n\n"))
    # nothing is lost
    joined = "\n\n".join(c.text for c in chunks)
    for i in range(12):
        assert f"p{i}w0." in joined


def test_one_huge_paragraph_is_cut_by_sentences_then_words() -> None:
    p = page(Section("x", ["Katib", "X"], words(600)))
    chunks = chunk_page(p, max_tokens=100, overlap_tokens=0, count_tokens=count_words)
    assert len(chunks) > 5
    assert all(count_words(c.embed_text) <= 100 for c in chunks)
    blob = page(Section("y", ["Katib", "Y"], " ".join(["token"] * 800)))  # no sentence ends at all
    blob_chunks = chunk_page(blob, max_tokens=100, overlap_tokens=0, count_tokens=count_words)
    assert len(blob_chunks) >= 8
    assert all(count_words(c.embed_text) <= 100 for c in blob_chunks)


def fences(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip().startswith("```"))


def test_a_code_block_stays_one_unit_blank_lines_and_all() -> None:
    code = "```python\nimport kfp\n\n\n@dsl.component\ndef add(a: int) -> int:\n    return a\n```"
    p = page(Section("c", ["Katib", "C"], f"Define a component:\n\n{code}\n\nThen compile it."))
    [c] = chunk_page(p, max_tokens=200, count_tokens=count_words)
    assert code in c.text  # not re-spaced: the blank lines inside are the code's own


def test_a_long_code_block_is_cut_into_complete_fenced_blocks() -> None:
    """Every piece opens with the block's own fence line and closes: no chunk starts in
    the middle of code that a reader would take for prose."""
    body = "\n".join(f"  key{i}: value{i}" for i in range(120))
    p = page(
        Section("y", ["Katib", "Y"], f"The full manifest:\n\n```yaml\n{body}\n```\n\nApply it.")
    )
    chunks = chunk_page(p, max_tokens=80, overlap_tokens=0, count_tokens=count_words)
    assert len(chunks) > 3
    for c in chunks:
        assert count_words(c.embed_text) <= 80
        assert fences(c.text) % 2 == 0, c.text
        assert "\n\n  key" not in c.text  # lines are not double-spaced
    code = [c for c in chunks if "key" in c.text]
    assert all("```yaml\n" in c.text for c in code)
    joined = "\n".join(c.text for c in chunks)
    assert all(f"key{i}: value{i}" in joined for i in range(120))  # nothing lost


def test_a_fence_left_open_is_closed_and_an_over_long_code_line_cut() -> None:
    blob = " ".join(["x"] * 300)
    p = page(Section("z", ["Katib", "Z"], f"Minified:\n\n```\n{blob}"))
    chunks = chunk_page(p, max_tokens=60, overlap_tokens=0, count_tokens=count_words)
    assert all(count_words(c.embed_text) <= 60 for c in chunks)
    assert all(fences(c.text) % 2 == 0 for c in chunks)
    assert sum(c.text.count("x") for c in chunks) == 300


def test_the_packaged_tokenizer_budget_holds(embedder) -> None:  # noqa: ANN001
    """With the model's own tokenizer (as ingest uses it) no chunk exceeds the model window."""
    text = "\n\n".join(words(40, f"para{i}x") for i in range(10))
    chunks = chunk_page(
        page(Section("x", ["Katib", "X"], text)),
        max_tokens=embedder.info.max_tokens,
        count_tokens=embedder.count_tokens,
    )
    assert len(chunks) > 1
    assert all(embedder.count_tokens(c.embed_text) + 2 <= embedder.info.max_tokens for c in chunks)


def test_a_custom_token_counter_is_used() -> None:
    calls: list[str] = []

    def count(text: str) -> int:
        calls.append(text)
        return len(text.split())

    chunk_page(page(Section("a", ["A"], "one two three")), count_tokens=count)
    assert calls


def test_ids_are_stable_for_the_same_input_and_differ_for_different_text() -> None:
    p1 = page(Section("a", ["A"], "Same text."), Section("b", ["B"], "Other text."))
    p2 = page(Section("a", ["A"], "Same text."), Section("b", ["B"], "Other text."))
    p3 = page(Section("a", ["A"], "Changed text."), Section("b", ["B"], "Other text."))
    ids1, ids2, ids3 = ([c.id for c in chunk_page(p)] for p in (p1, p2, p3))
    assert ids1 == ids2
    assert ids1[0] != ids3[0] and ids1[1] == ids3[1]
    assert len(set(ids1)) == len(ids1)


def test_identical_sections_on_two_pages_have_different_ids() -> None:
    a = page(Section("x", ["X"], "Same."), url="https://docs.example.com/a/")
    b = page(Section("x", ["X"], "Same."), url="https://docs.example.com/b/")
    chunks = chunk_pages([a, b])
    assert len({c.id for c in chunks}) == 2


def test_content_hash_depends_on_the_embedded_text_only() -> None:
    [a] = chunk_page(page(Section("x", ["X"], "Same."), url="https://docs.example.com/a/"))
    [b] = chunk_page(page(Section("x", ["X"], "Same."), url="https://docs.example.com/b/"))
    assert a.content_hash == b.content_hash


def test_chunks_round_trip_through_dicts() -> None:
    [c] = chunk_page(page(Section("x", ["X"], "Body.")))
    assert Chunk.from_dict(c.to_dict()) == c


def test_approx_tokens_counts_cjk_characters() -> None:
    assert approx_tokens("설치 방법") >= 4
    assert approx_tokens("one two three") == 3


def test_the_overlap_never_pushes_a_window_over_the_budget() -> None:
    # 60 + 30 fill the first window; the 30 carried as overlap plus the next 90 would not fit.
    text = "\n\n".join([words(60, "a"), words(30, "b"), words(90, "c")])
    chunks = chunk_page(
        page(Section("x", ["Katib", "X"], text)),
        max_tokens=100,
        overlap_tokens=32,
        count_tokens=count_words,
    )
    assert all(count_words(c.embed_text) <= 100 for c in chunks)
    joined = "\n\n".join(c.text for c in chunks)
    assert all(f"{w}{i}." in joined for w, n in (("a", 60), ("b", 30), ("c", 90)) for i in range(n))


def count_url_heavy(text: str) -> int:
    """Like a WordPiece tokenizer on URLs: a long word is many tokens."""
    return sum(1 + len(w) // 5 for w in text.split())


def test_a_line_of_long_words_is_cut_within_the_budget_in_prose_and_in_code() -> None:
    # Link lists and minified code: far more tokens a word than the 1.5 the cut assumes.
    urls = " ".join(f"https://example.com/docs/page-number-{i}/section" for i in range(200))
    for text in (urls, f"```\n{urls}\n```"):
        chunks = chunk_page(
            page(Section("x", ["Katib", "X"], text)),
            max_tokens=100,
            overlap_tokens=0,
            count_tokens=count_url_heavy,
        )
        assert all(count_url_heavy(c.embed_text) <= 100 for c in chunks)
        joined = " ".join(c.text for c in chunks)
        assert all(f"/page-number-{i}/section" in joined for i in range(200))


def test_a_long_table_is_cut_between_rows_never_inside_one() -> None:
    # A row's cells belong together: "Name of the experiment." without its "Yes" misleads.
    rows = "\n".join(
        f"| `param{i}` | Name of thing {i}. Used by the trainer. | Yes |" for i in range(40)
    )
    table = "| Parameter | Description | Required |\n| --- | --- | --- |\n" + rows
    chunks = chunk_page(
        page(Section("t", ["Katib", "T"], table)),
        max_tokens=80,
        overlap_tokens=0,
        count_tokens=count_words,
    )
    assert len(chunks) > 3
    lines = [line for c in chunks for line in c.text.split("\n") if line.strip()]
    assert all(line.startswith("|") and line.endswith("|") for line in lines), lines
    assert all(f"| `param{i}` |" in "\n".join(lines) for i in range(40))


def test_one_word_longer_than_the_window_is_cut_by_characters_with_nothing_lost(
    embedder,  # noqa: ANN001
) -> None:
    # A 4 kB base64 blob (a certificate, a signed URL) is one word of thousands of tokens:
    # every chunk stays within the model window, and the blob is all there, in order.
    import base64
    import hashlib

    raw = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(96))
    blob = base64.b64encode(raw).decode()
    assert len(blob) >= 4096
    for text in (f"The CA bundle:\n\n{blob}\n\nThen restart.", f"```\n{blob}\n```"):
        chunks = chunk_page(
            page(Section("x", ["Katib", "X"], text)),
            max_tokens=embedder.info.max_tokens,
            overlap_tokens=0,
            count_tokens=embedder.count_tokens,
        )
        sizes = [embedder.count_tokens(c.embed_text) + 2 for c in chunks]
        assert all(n <= embedder.info.max_tokens for n in sizes), sizes
        joined = "".join(line for c in chunks for line in c.text.split() if line != "```")
        assert blob in joined
