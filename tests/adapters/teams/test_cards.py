"""Reply -> Teams activities: text, citations, the sources card, feedback, size limits."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.teams import cards
from bot.types import Citation, Reply


def _citations(n: int = 2) -> list[Citation]:
    return [
        Citation(
            n=i,
            title=f"Install Kubeflow [{i}]",
            url=f"https://docs.example.com/install (v{i})#step-{i}",
            section=f"Installing › Step {i}",
            snippet="Run the installer with the manifests. " * 3,
            last_updated="2024-10-01",
        )
        for i in range(1, n + 1)
    ]


def _answer(**changes) -> Reply:
    base = dict(
        text="Use the manifests [1]. Then verify the pods [2].",
        citations=_citations(),
        model="extractive",
        used_docs=True,
        answer_id="ans-42",
        timings_ms={"total": 1234.0},
    )
    base.update(changes)
    return Reply(**base)


def _card(activity) -> dict:
    (attachment,) = activity.attachments
    assert attachment.content_type == "application/vnd.microsoft.card.adaptive"
    return attachment.content


def test_answer_renders_text_then_sources_card() -> None:
    text, card_activity = cards.render_reply(_answer())

    assert text.text == "Use the manifests [1]. Then verify the pods [2]."
    assert text.text_format == "markdown"
    assert not text.attachments  # text and card in separate posts (reference §2.6)
    card = _card(card_activity)
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    lines = [b["text"] for b in card["body"]]
    assert lines[0] == "Sources"
    assert "1. [Install Kubeflow (1) › Installing › Step 1]" in lines[1]
    # the URL is kept, with characters that would end a Markdown link escaped
    assert "(https://docs.example.com/install%20%28v1%29#step-1)" in lines[1]
    assert "updated 2024-10-01" in lines[1]
    assert lines[-1] == "extractive · from the docs · 1.2s"


def test_a_source_whose_heading_path_starts_with_its_title_names_the_title_once() -> None:
    # chunks store the heading path title first ("Katib Config › Metrics"), as ingest makes it
    cite = Citation(1, "Katib Config", "https://k.org/config/#metrics", "Katib Config › Metrics")
    card = _card(cards.render_reply(_answer(citations=[cite]))[-1])
    assert "[Katib Config › Metrics](https://k.org/config/#metrics)" in card["body"][1]["text"]


def test_feedback_buttons_carry_the_answer_id() -> None:
    card = _card(cards.render_reply(_answer())[-1])
    actions = card["actions"]
    assert [a["type"] for a in actions] == ["Action.Submit", "Action.Submit"]
    assert [a["data"] for a in actions] == [
        {"docbot_feedback": "up", "answer_id": "ans-42"},
        {"docbot_feedback": "down", "answer_id": "ans-42"},
    ]


def test_answer_text_enables_builtin_feedback_and_citations() -> None:
    text = cards.render_reply(_answer())[0].serialize()

    assert text["channelData"]["feedbackLoop"] == {"type": "default"}
    (entity,) = text["entities"]
    assert entity["type"] == "https://schema.org/Message"
    assert entity["@type"] == "Message"
    assert [c["position"] for c in entity["citation"]] == [1, 2]
    first = entity["citation"][0]["appearance"]
    assert first["url"].startswith("https://docs.example.com/")
    assert len(first["name"]) <= 80 and len(first["abstract"]) <= 160
    assert entity["additionalType"] == []  # extractive answers are quotes, not AI-generated


def test_offline_extractive_answers_under_their_real_label_are_not_ai_generated() -> None:
    # the core names the offline model by its label, not its short name
    text = cards.render_reply(_answer(model="extractive (offline, no LLM)"))[0].serialize()
    assert text["entities"][0]["additionalType"] == []


def test_llm_answers_are_labelled_ai_generated() -> None:
    text = cards.render_reply(_answer(model="bedrock:claude"))[0].serialize()
    assert text["entities"][0]["additionalType"] == ["AIGeneratedContent"]


def test_version_wildcards_are_not_taken_for_slack_bold() -> None:
    row = "KFP Runtime: v2.0.*; KFP SDK: v1.8.*; Notes: Maintenance mode [1]."
    assert cards.to_teams_markdown(row) == row
    assert cards.to_teams_markdown("Set *model* first.") == "Set **model** first."


def test_command_replies_are_plain_text_with_notices() -> None:
    reply = Reply(text="Model set to *claude*.", is_command=True, ephemeral=True, notices=["n1"])
    (only,) = cards.render_reply(reply)
    assert only.text == "Model set to **claude**.\n\n_n1_"  # Slack *bold* -> Teams **bold**
    assert not only.attachments and not only.channel_data and not only.entities


def test_declined_answer_still_offers_feedback_but_no_sources() -> None:
    reply = Reply(
        text="I couldn't find this in the docs, so I won't guess.",
        declined=True,
        model="extractive",
        answer_id="ans-7",
    )
    text, card_activity = cards.render_reply(reply)
    card = _card(card_activity)
    assert all(block["text"] != "Sources" for block in card["body"])
    assert card["actions"][0]["data"]["answer_id"] == "ans-7"
    # said as a decline, as Slack says it; never "from the docs"
    assert card["body"][-1]["text"] == "extractive · no answer from the docs"


def test_a_decline_before_any_model_ran_says_so_not_just_its_seconds() -> None:
    reply = Reply(
        text="아직 색인된 문서가 없습니다.",
        declined=True,
        answer_id="ans-8",
        language="ko",
        timings_ms={"total": 12.0},
    )
    card = _card(cards.render_reply(reply)[-1])
    assert card["body"][-1]["text"] == "문서에서 답을 찾지 못함 · 0.0s"


def test_notices_show_on_the_card() -> None:
    card = _card(cards.render_reply(_answer(notices=["Fell back to extractive."]))[-1])
    assert {"type": "TextBlock", "text": "Fell back to extractive.", "wrap": True,
            "color": "Warning"} in card["body"]  # fmt: skip


def test_korean_reply_gets_korean_labels() -> None:
    card = _card(cards.render_reply(_answer(language="ko"))[-1])
    assert card["body"][0]["text"] == "출처"


def test_markdown_is_fitted_to_teams_outside_code() -> None:
    text = "## Install\n*Note*: run `kubectl get *pods*`\n```\n# a shell comment\n*x*\n```"
    assert cards.to_teams_markdown(text) == (
        "**Install**\n**Note**: run `kubectl get *pods*`\n```\n# a shell comment\n*x*\n```"
    )
    assert cards.to_teams_markdown("**kept** and _kept_ and 2*3*4") == (
        "**kept** and _kept_ and 2*3*4"
    )


def test_empty_text_is_never_sent_empty() -> None:
    (only,) = cards.render_reply(Reply(text="  ", is_command=True))
    assert only.text.strip()


def test_long_answers_are_split_under_the_size_limit() -> None:
    paragraph = "Kubeflow pipelines run on Kubernetes and store artifacts in MinIO [1]. " * 40
    reply = _answer(text="\n\n".join([paragraph] * 30))  # ~85 KB of text
    activities = cards.render_reply(reply)

    texts = [a for a in activities if a.text]
    assert len(texts) >= 4
    assert all(cards.activity_size(a) <= cards.MESSAGE_LIMIT_BYTES for a in activities)
    # nothing lost, nothing duplicated, apart from whitespace at the cuts
    joined = " ".join(a.text for a in texts)
    assert joined.split() == reply.text.split()
    # only the last text post carries the built-in feedback (it rates one message id)
    assert [bool(a.channel_data) for a in texts] == [False] * (len(texts) - 1) + [True]


def test_code_fences_cut_by_a_split_are_closed_and_reopened() -> None:
    code = (
        "```bash\n" + "\n".join(f"kubectl apply -f manifest-{i}.yaml" for i in range(200)) + "\n```"
    )
    chunks = cards.split_text("Run this:\n\n" + code, limit_bytes=2_000)

    assert len(chunks) > 2
    for chunk in chunks:
        fences = [line for line in chunk.split("\n") if line.startswith("```")]
        assert len(fences) % 2 == 0, chunk
    assert chunks[1].startswith("```bash\n")


def test_many_sources_are_capped_to_fit() -> None:
    huge = [
        Citation(n=i, title="T" * 300, url=f"https://d.example/{'x' * 1500}/{i}", snippet="s" * 500)
        for i in range(1, 41)
    ]
    reply = _answer(text="See [1] and [39].", citations=huge)
    activities = cards.render_reply(reply)

    assert all(cards.activity_size(a) <= cards.MESSAGE_LIMIT_BYTES for a in activities)
    card = _card(activities[-1])
    assert any("more" in block["text"] for block in card["body"])
    entity = activities[0].serialize()["entities"][0]
    assert len(entity["citation"]) <= cards.MAX_CITATIONS


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("ab 한글😀\n`[]1")), min_size=0, max_size=3_000),
    limit=st.integers(min_value=200, max_value=4_000),
)
def test_split_text_respects_the_limit_and_keeps_the_words(text: str, limit: int) -> None:
    chunks = cards.split_text(text, limit_bytes=limit)
    assert chunks
    assert all(cards.utf16_size(c) <= limit for c in chunks)
    if "`" not in text:  # fences may add lines; elsewhere words are exactly preserved
        assert "".join(chunks).split() == text.split() or " ".join(chunks).split() == text.split()


def test_welcome_says_what_it_does_and_how_to_ask() -> None:
    text = cards.welcome_text("HelpDesk Bot")
    assert "HelpDesk Bot" in text
    assert "@HelpDesk Bot" in text and "/docbot help" in text
    assert "docs" in text.lower()
    assert json.dumps(cards.welcome_text("", "ko"), ensure_ascii=False) != json.dumps(text)
