"""Reply -> Slack messages: answer, sources, footer, buttons, and Slack's limits."""

from __future__ import annotations

from adapters.slack import render
from bot.types import Citation, Reply


def reply(text: str = "Use **kfp** [1].", **kw: object) -> Reply:
    base: dict[str, object] = {
        "citations": [
            Citation(1, "Pipelines", "https://kf.io/docs/pipelines/#install", section="Install"),
            Citation(2, "A & B <guide>", "https://kf.io/docs/b/"),
        ],
        "model": "Bedrock (mistral)",
        "used_docs": True,
        "answer_id": "ans-1",
    }
    base.update(kw)
    return Reply(text=text, **base)  # type: ignore[arg-type]


def test_answer_with_sources_footer_and_feedback_buttons() -> None:
    [message] = render.render_reply(reply(), elapsed_s=2.34)
    types = [b["type"] for b in message.blocks]
    assert types == ["section", "context", "context", "actions"]
    linked = "Use *kfp* <https://kf.io/docs/pipelines/#install|[1]>."
    assert message.blocks[0]["text"]["text"] == linked
    assert message.text == linked
    sources = [e["text"] for e in message.blocks[1]["elements"]]
    assert sources == [
        "*Sources:* *[1]* <https://kf.io/docs/pipelines/#install|Pipelines › Install>",
        "*[2]* <https://kf.io/docs/b/|A &amp; B &lt;guide&gt;>",
    ]
    footer = message.blocks[2]["elements"][0]["text"]
    assert footer == "Model: Bedrock (mistral) · :books: answered from the docs · 2.3 s"
    buttons = message.blocks[3]
    assert buttons["block_id"] == "feedback:ans-1"
    assert [(b["action_id"], b["value"]) for b in buttons["elements"]] == [
        ("feedback_up", "up:ans-1"),
        ("feedback_down", "down:ans-1"),
    ]
    block_ids = [b["block_id"] for b in message.blocks]
    assert len(set(block_ids)) == len(block_ids)


def test_each_source_shows_its_pages_last_updated_date_when_known() -> None:
    cites = [
        Citation(
            1, "Pipelines", "https://kf.io/p/#install", section="Install", last_updated="2026-11-20"
        ),
        Citation(2, "Katib", "https://kf.io/k/"),  # no date known: none shown
    ]
    [message] = render.render_reply(reply(citations=cites))
    sources = [e["text"] for e in message.blocks[1]["elements"]]
    assert sources[0].endswith("|Pipelines › Install> · updated 2026-11-20")
    assert sources[1] == "*[2]* <https://kf.io/k/|Katib>"
    [korean] = render.render_reply(reply(citations=cites[:1], language="ko"))
    assert korean.blocks[1]["elements"][0]["text"].endswith("· 2026-11-20 수정")
    # the heading in the reply's language too, not "Sources" next to Korean dates
    assert korean.blocks[1]["elements"][0]["text"].startswith("*출처:* *[1]* ")


def test_footer_without_docs_and_timing_from_the_core() -> None:
    r = reply(used_docs=False, citations=[], timings_ms={"total": 1500.0})
    [message] = render.render_reply(r)
    assert message.blocks[-2]["elements"][0]["text"].endswith("no docs used · 1.5 s")


def test_declined_answer_shows_no_sources() -> None:
    [message] = render.render_reply(reply("I couldn't find this in the docs.", declined=True))
    assert not any("Sources" in str(b) for b in message.blocks)
    assert "no answer from the docs" in str(message.blocks)


def test_declined_without_a_model_names_no_unknown_model() -> None:
    # a decline before any model ran has no model: the footer does not say "unknown"
    r = reply("I couldn't find this in the docs.", declined=True, model="", citations=[])
    [message] = render.render_reply(r, elapsed_s=0.2)
    footer = next(b for b in message.blocks if b["block_id"] == "footer:ans-1")
    assert footer["elements"][0]["text"] == "no answer from the docs · 0.2 s"


def test_footer_is_in_the_replys_language() -> None:
    r = reply("문서에 따르면 [1].", language="ko", timings_ms={"total": 1500.0})
    [message] = render.render_reply(r)
    footer = next(b for b in message.blocks if b["block_id"] == "footer:ans-1")
    assert (
        footer["elements"][0]["text"] == "모델: Bedrock (mistral) · :books: 문서 기반 답변 · 1.5초"
    )
    declined = reply("찾지 못했습니다.", language="ko", declined=True, model="")
    [message] = render.render_reply(declined, elapsed_s=0.2)
    footer = next(b for b in message.blocks if b["block_id"] == "footer:ans-1")
    assert footer["elements"][0]["text"] == "문서에서 답을 찾지 못함 · 0.2초"


def test_notices_are_shown() -> None:
    [message] = render.render_reply(reply(notices=["Bedrock timed out; answered by extractive."]))
    assert ":warning: Bedrock timed out" in str(message.blocks[1])


def test_command_replies_have_no_footer_or_buttons() -> None:
    [message] = render.render_reply(Reply("*Settings*: model `extractive`", ephemeral=True))
    assert [b["type"] for b in message.blocks] == ["section"]


def test_many_citations_fit_a_context_block() -> None:
    cites = [Citation(i, f"Page {i}", f"https://kf.io/{i}") for i in range(1, 15)]
    [message] = render.render_reply(reply(citations=cites))
    sources = message.blocks[1]["elements"]
    assert len(sources) == 10
    assert "Page 14" in sources[-1]["text"]


def test_long_answers_split_into_messages_within_limits() -> None:
    text = "\n\n".join("para " + "x" * 2500 for _ in range(60))
    messages = render.render_reply(reply(text))
    assert len(messages) > 1
    for m in messages:
        assert len(m.blocks) <= render.MAX_BLOCKS
        sections = [b["text"]["text"] for b in m.blocks if b["type"] == "section"]
        assert all(len(s) <= 3000 for s in sections)
        assert sum(map(len, sections)) <= render.MAX_MESSAGE_CHARS
        assert len(m.text) <= render.FALLBACK_CHARS
    assert messages[-1].blocks[-1]["type"] == "actions"
    assert all(b["type"] == "section" for m in messages[:-1] for b in m.blocks)
    total = sum(b["text"]["text"].count("para") for m in messages for b in m.blocks if "text" in b)
    assert total == 60


def test_many_short_paragraphs_respect_the_block_limit() -> None:
    text = "\n\n".join(f"p{i} " + "y" * 2990 for i in range(3))
    messages = render.render_reply(reply(text))
    assert sum(1 for m in messages for b in m.blocks if b["type"] == "section") == 3


def test_placeholder_streaming_and_error() -> None:
    assert render.placeholder().text == "Searching the docs…"
    partial = render.streaming("So far **bold** " + "z" * 5000)
    assert len(partial.blocks[0]["text"]["text"]) <= 3000
    assert partial.blocks[0]["text"]["text"].startswith("So far *bold*")
    assert render.streaming("").text == "Searching the docs…"
    assert "went wrong" in render.error_message().text


def test_local_paths_are_shown_not_linked() -> None:
    cite = Citation(1, "Caching", "docs/caching.md#what", section="Caching › What is it?")
    [message] = render.render_reply(reply("Cached [1].", citations=[cite]))
    assert message.blocks[0]["text"]["text"] == "Cached [1]."
    assert message.blocks[1]["elements"][0]["text"] == (
        "*Sources:* *[1]* Caching › What is it? (`docs/caching.md#what`)"
    )
