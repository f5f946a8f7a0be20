"""mrkdwn: what Slack shows must be what the model meant, and never broken markup."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapters.slack import mrkdwn


def test_escapes_only_the_three_control_characters() -> None:
    assert mrkdwn.escape("a & b < c > d 'e' \"f\"") == "a &amp; b &lt; c &gt; d 'e' \"f\""


def test_markdown_bold_headings_links_become_mrkdwn() -> None:
    text = "## Install\nUse **kubectl** and [the guide](https://kf.io/docs/install?a=1&b=2)."
    assert mrkdwn.to_mrkdwn(text) == (
        "*Install*\nUse *kubectl* and <https://kf.io/docs/install?a=1&b=2|the guide>."
    )


def test_italic_strike_and_bullets() -> None:
    assert mrkdwn.to_mrkdwn("*maybe* ~~old~~") == "_maybe_ ~old~"
    assert mrkdwn.to_mrkdwn("- one\n* two\n  + three") == "• one\n• two\n  • three"


def test_existing_slack_links_and_mentions_are_kept() -> None:
    text = "see <https://kf.io/a|A & B> and <@U123>, <#C123|general>, <!date^1392734382^{date}|x>"
    assert mrkdwn.to_mrkdwn(text) == text


def test_broadcasts_in_an_answer_are_shown_but_notify_no_one() -> None:
    # the model's text may repeat what a docs page says; it must not page a channel
    text = "ping <!here>, <!channel>, <!everyone|everyone> and <!subteam^S0614TZR7|@oncall>"
    assert mrkdwn.to_mrkdwn(text) == "ping @here, @channel, @everyone and @oncall"


def test_text_is_escaped_but_not_inside_links_twice() -> None:
    assert mrkdwn.to_mrkdwn("if a < b && c > d") == "if a &lt; b &amp;&amp; c &gt; d"
    assert mrkdwn.to_mrkdwn("[x <y>](https://e.com)") == "<https://e.com|x &lt;y&gt;>"


def test_code_is_escaped_and_not_formatted() -> None:
    text = "Run `kubectl get **pods** <ns>`:\n```bash\nkubectl apply -f a.yaml && echo **ok**\n```"
    assert mrkdwn.to_mrkdwn(text) == (
        "Run `kubectl get **pods** &lt;ns&gt;`:\n"
        "```\nkubectl apply -f a.yaml &amp;&amp; echo **ok**\n```"
    )


def test_citation_markers_and_autolinks() -> None:
    assert mrkdwn.to_mrkdwn("Pipelines run on Kubernetes [1][2].") == (
        "Pipelines run on Kubernetes [1][2]."
    )
    assert mrkdwn.to_mrkdwn("<https://kf.io>") == "<https://kf.io>"


def test_link_labels_cannot_break_out() -> None:
    assert mrkdwn.link("https://e.com/a b", "x|y <z>") == "<https://e.com/a%20b|x¦y &lt;z&gt;>"


def test_incoming_text_becomes_plain() -> None:
    text = "<@U07HLPBOT1> is <https://a.io|the page> &amp; <https://b.io> ok? cc <@U999|dana> <#C1|general>"
    assert mrkdwn.to_plain(text, "U07HLPBOT1") == (
        "is the page (https://a.io) & https://b.io ok? cc @dana #general"
    )
    assert mrkdwn.to_plain("a &lt;b&gt; <!subteam^S1|@admins>") == "a <b> @admins"


def test_mentions() -> None:
    assert mrkdwn.mentions("hi <@U1>", "U1")
    assert mrkdwn.mentions("hi <@U1|bot>", "U1")
    assert not mrkdwn.mentions("hi <@U12>", "U1")
    assert not mrkdwn.mentions("hi", "")


def test_split_prefers_paragraphs_and_keeps_links_whole() -> None:
    link = "<https://kf.io/docs/very/long/path|A link label>"
    text = ("word " * 500 + link + " ") * 4
    pieces = mrkdwn.split(text, 3000)
    assert all(len(p) <= 3000 for p in pieces)
    assert sum(p.count(link) for p in pieces) == 4


def test_split_closes_and_reopens_code_blocks() -> None:
    text = "```\n" + "line of code\n" * 600 + "```"
    pieces = mrkdwn.split(text, 3000)
    assert len(pieces) > 1
    assert all(p.count("```") == 2 and len(p) <= 3000 for p in pieces)


def test_split_keeps_the_indentation_of_code_it_reopens() -> None:
    # YAML cut across sections: the first line of the reopened block keeps its indent
    lines = [f"  key_{i}: value" for i in range(300)]
    pieces = mrkdwn.split("```\n" + "\n".join(lines) + "\n```", 3000)
    assert len(pieces) > 1
    body = [ln.strip("`") for p in pieces for ln in p.splitlines() if ln.strip("`")]
    assert body == lines


def test_truncate_adds_an_ellipsis_within_the_limit() -> None:
    assert mrkdwn.truncate("short", 10) == "short"
    cut = mrkdwn.truncate("x" * 50 + " <https://a.io|link>", 60)
    assert len(cut) <= 60 and cut.endswith("…") and "<https" not in cut


@given(st.text(max_size=8000))
def test_split_is_lossless_enough_and_bounded(text: str) -> None:
    pieces = mrkdwn.split(text, 500)
    assert all(0 < len(p) <= 500 for p in pieces)
    # Only whitespace at cut points and code fences are added or lost.
    strip = str.maketrans("", "", " \n\t\r`\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u2029")
    assert "".join(pieces).translate(strip) == text.translate(strip) or not text.strip()


@given(st.text(max_size=2000))
def test_converted_text_has_no_stray_angle_brackets(text: str) -> None:
    out = mrkdwn.to_mrkdwn(text)
    # Every `<` opens a Slack link/mention that the input itself asked for.
    for part in out.split("<")[1:]:
        assert ">" in part


def test_citation_markers_link_to_their_sources() -> None:
    urls = {1: "https://kf.io/a#x", 2: "docs/local.md"}
    assert mrkdwn.to_mrkdwn("Yes [1][2], see `[1]` and [3].", urls) == (
        "Yes <https://kf.io/a#x|[1]>[2], see `[1]` and [3]."
    )


def test_version_wildcards_are_not_taken_for_italics() -> None:
    # a flattened table row from the docs: "v2.0.*" is a version pattern, not emphasis
    row = "KFP Runtime: v2.0.*; KFP SDK: v1.8.*; Notes: Maintenance mode [1]."
    assert mrkdwn.to_mrkdwn(row) == row
    assert mrkdwn.to_mrkdwn("KFP Runtime: v1.7.*; KFP SDK: *; Notes: old") == (
        "KFP Runtime: v1.7.*; KFP SDK: *; Notes: old"
    )
    assert mrkdwn.to_mrkdwn("an *important* note") == "an _important_ note"


def test_markdown_tables_become_aligned_monospace() -> None:
    # Slack has no tables: raw pipes and a |---| rule are unreadable in a channel
    text = (
        "Versions [1]:\n\n| Component | Version |\n|---|:---:|\n"
        "| **Istio** | `1.22` |\n| Knative & co | 1.12 |\n\nDone."
    )
    assert mrkdwn.to_mrkdwn(text) == (
        "Versions [1]:\n\n```\nComponent    | Version\nIstio        | 1.22\n"
        "Knative &amp; co | 1.12\n```\n\nDone."
    )


def test_bold_italic_becomes_properly_nested_mrkdwn() -> None:
    # `*_x*_` (what bold-then-italic gave) is not nested, so Slack shows stray markers.
    assert mrkdwn.to_mrkdwn("a ***key point*** b") == "a *_key point_* b"
    assert mrkdwn.to_mrkdwn("***a*** and **b** and *c*") == "*_a_* and *b* and _c_"
