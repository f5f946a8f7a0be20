"""Prompt building: numbered sources, rules, follow-ups, and fitting a context window."""

from __future__ import annotations

from bot.types import Turn
from rag.generation import GenerationRequest, Source
from rag.prompt import (
    NOT_COVERED,
    approx_tokens,
    build_messages,
    fold_system,
    render_instruct_prompt,
    truncate_to_tokens,
)


def source(n: int, words: int = 50, title: str = "Pipelines") -> Source:
    return Source(
        n=n,
        title=f"{title} {n}",
        url=f"https://docs.example/p{n}#s",
        section=f"Section {n}",
        text=" ".join(f"word{n}x{i}" for i in range(words)),
    )


def test_sources_are_numbered_with_titles_urls_and_question_comes_last() -> None:
    request = GenerationRequest(question="How do I run a pipeline?", sources=[source(1), source(2)])
    system, messages = build_messages(request, max_context_tokens=8000)
    assert "Answer only from the numbered sources" in system
    assert "[1]" in system and "cite" in system.lower()
    assert "does not cover" in system
    assert f"reply with exactly {NOT_COVERED} and nothing else" in system
    assert len(messages) == 1 and messages[0]["role"] == "user"
    content = messages[0]["content"]
    assert "[1] Pipelines 1 › Section 1\nURL: https://docs.example/p1#s" in content
    assert "[2] Pipelines 2 › Section 2" in content
    assert content.index("[1] Pipelines 1") < content.index("[2] Pipelines 2")
    assert content.rstrip().endswith("Answer from the sources above and cite them as [n].")
    assert "Question: How do I run a pipeline?" in content


def test_length_and_language_are_in_the_system_prompt() -> None:
    short = build_messages(GenerationRequest(question="q", length="short"), max_context_tokens=4000)
    long = build_messages(
        GenerationRequest(question="q", length="long", language="ko"), max_context_tokens=4000
    )
    assert "three sentences" in short[0] and "Answer in English" in short[0]
    assert "thoroughly" in long[0] and "Answer in Korean" in long[0]


def test_without_docs_no_sources_and_no_citation_rules() -> None:
    request = GenerationRequest(question="What is Kubeflow?", sources=[source(1)], use_docs=False)
    system, messages = build_messages(request, max_context_tokens=4000)
    assert "No documentation was searched" in system
    assert "[1]" not in messages[-1]["content"]
    assert messages[-1]["content"] == "What is Kubeflow?"


def test_follow_up_turns_are_included_in_order_and_alternate() -> None:
    history = [
        Turn("assistant", "stray greeting"),  # conversations must start with the user
        Turn("user", "How do I install Katib?"),
        Turn("assistant", "Use the manifests [1]."),
    ]
    request = GenerationRequest(question="And uninstall it?", sources=[source(1)], history=history)
    _, messages = build_messages(request, max_context_tokens=8000)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "How do I install Katib?"
    assert messages[1]["content"] == "Use the manifests [1]."
    assert "And uninstall it?" in messages[2]["content"]


def test_consecutive_same_role_turns_are_merged() -> None:
    history = [Turn("user", "first"), Turn("user", "second")]
    _, messages = build_messages(
        GenerationRequest(question="third", history=history), max_context_tokens=4000
    )
    assert [m["role"] for m in messages] == ["user"]
    assert messages[0]["content"].startswith("first\n\nsecond")


def test_context_is_fitted_by_token_count_dropping_lowest_ranked_sources() -> None:
    sources = [source(n, words=400) for n in range(1, 6)]
    request = GenerationRequest(question="q", sources=sources, length="short")
    window = 1500
    system, messages = build_messages(request, max_context_tokens=window)
    used = approx_tokens(system) + sum(approx_tokens(m["content"]) for m in messages)
    assert used + request.max_tokens <= window
    content = messages[-1]["content"]
    assert "[1] Pipelines 1" in content
    assert "[5] Pipelines 5" not in content


def test_a_large_window_keeps_every_source_whole() -> None:
    sources = [source(n, words=400) for n in range(1, 6)]
    _, messages = build_messages(
        GenerationRequest(question="q", sources=sources), max_context_tokens=32000
    )
    for n in range(1, 6):
        assert f"word{n}x399" in messages[-1]["content"]


def test_history_is_bounded_and_keeps_the_newest_turns() -> None:
    history = [
        Turn("user" if i % 2 == 0 else "assistant", f"turn{i} " + "x " * 300) for i in range(20)
    ]
    request = GenerationRequest(question="latest?", history=history, sources=[source(1)])
    _, messages = build_messages(request, max_context_tokens=3000)
    text = "\n".join(m["content"] for m in messages)
    assert "turn19" in text
    assert "turn0 " not in text
    assert "[1] Pipelines 1" in messages[-1]["content"]


def test_counts_tokens_with_the_given_counter() -> None:
    calls: list[str] = []

    def counter(text: str) -> int:
        calls.append(text)
        return len(text.split())

    build_messages(
        GenerationRequest(question="q", sources=[source(1)]),
        max_context_tokens=4000,
        count_tokens=counter,
    )
    assert calls


def test_approx_tokens_counts_hangul_per_character() -> None:
    assert approx_tokens("hello world") == 4
    assert approx_tokens("파이프라인") == 5
    assert approx_tokens("") == 0


def test_truncate_to_tokens_fits() -> None:
    text = " ".join(["alpha"] * 500)
    cut = truncate_to_tokens(text, 50)
    assert approx_tokens(cut) <= 50 and cut.endswith("…")
    assert truncate_to_tokens("short", 50) == "short"
    assert truncate_to_tokens("anything", 0) == ""


def test_fold_system_prepends_to_first_user_turn() -> None:
    messages = [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"}]
    folded = fold_system("RULES", messages)
    assert folded[0] == {"role": "user", "content": "RULES\n\nq1"}
    assert messages[0]["content"] == "q1"  # input untouched


def test_render_instruct_prompt_mistral_format() -> None:
    messages = [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    assert (
        render_instruct_prompt("S", messages) == "<s>[INST] S\n\nq1 [/INST] a1</s>[INST] q2 [/INST]"
    )
