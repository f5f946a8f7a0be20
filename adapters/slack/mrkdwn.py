"""Slack mrkdwn: escaping, Markdown -> mrkdwn, Slack text -> plain text, splitting.

mrkdwn is not Markdown: bold is `*x*`, italic `_x_`, strike `~x~`, links are
`<url|text>`, there are no headings, and only `&`, `<`, `>` must be escaped.
Models write Markdown, so answers are converted before they are sent. All
functions here are pure.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SECTION_LIMIT = 3000  # characters of text in one section block
# A message's notification text, as render writes it and a thread's history reads it back.
FALLBACK_CHARS = 3_900

# Slack's own link/mention syntax that is already correct mrkdwn and must survive escaping.
_SLACK_TOKEN = re.compile(r"<(?:https?://|mailto:|tel:|@[UW]|#C|!)[^<>\n]*>")
# A broadcast (`<!here>`, `<!channel>`, `<!everyone>`, a user group `<!subteam^ID|@name>`)
# notifies everyone there. An answer's text comes from a model that read the docs, and text
# in the docs must not be able to page a whole channel: it is shown, not sent as a mention.
_BROADCAST = re.compile(r"<!(here|channel|everyone|subteam\^[^<>|\n]*)(?:\|([^<>\n]*))?>")
_CODE_FENCE = re.compile(r"```.*?(?:```|\Z)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_MD_LINK = re.compile(r"\[([^\[\]\n]+)\]\((https?://[^\s()]+(?:\([^\s()]*\))?[^\s()]*)\)")
_AUTOLINK = re.compile(r"<(https?://[^\s<>]+)>")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
# A Markdown table: header row, `|---|:---:|` rule, rows. Slack has no tables.
_TABLE = re.compile(
    r"^[ \t]*[^\n]*\|[^\n]*\n"
    r"[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+(?:[ \t]*:?-{3,}:?[ \t]*)?\n?"
    r"(?:[ \t]*[^\n]*\|[^\n]*(?:\n|$))*",
    re.M,
)
_TABLE_RULE = re.compile(r"^[ \t|:-]+$")
# `***x***` first: the bold rule alone would leave `*_x*_`, which Slack cannot nest.
_BOLD_ITALIC = re.compile(r"(\*\*\*|___)(?=\S)(.+?)(?<=\S)\1")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
# Emphasis never starts with ";:,.!?": "v2.0.*; KFP SDK: v1.8.*" holds version wildcards.
_ITALIC_STAR = re.compile(r"(?<![*\w])\*(?=[^\s*;:,.!?])([^*\n]+?)(?<=[^\s*])\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.M)
_CITATION = re.compile(r"\[(\d{1,3})\]")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")
_BOLD_MARK = "\x01"  # stands for `*` of converted bold while italics are rewritten


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo `escape`: Slack sends `&amp; &lt; &gt;` in text it delivers to apps.

    `&amp;` goes last, so `&amp;lt;` (a typed "&lt;") becomes "&lt;", not "<".
    """
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def is_web_url(url: str) -> bool:
    """Only these make a clickable Slack link; a relative path would show as broken markup."""
    return url.startswith(("https://", "http://", "mailto:"))


def link(url: str, text: str = "") -> str:
    """A Slack link `<url|text>`, with the label made safe (no `|`, `<`, `>`)."""
    safe_url = url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
    label = escape(text.replace("|", "¦").replace("\n", " ").strip())
    return f"<{safe_url}|{label}>" if label else f"<{safe_url}>"


def _broadcast_label(match: re.Match[str]) -> str:
    """What a broadcast shows as plain text: `@here`, or a user group's own label."""
    name, label = match.group(1), match.group(2)
    if name.startswith("subteam"):
        return label or "@group"
    return f"@{name}"


def to_mrkdwn(markdown: str, cite_urls: Mapping[int, str] | None = None) -> str:
    """Convert Markdown as models write it into Slack mrkdwn.

    Code (fenced and inline) is escaped but otherwise left alone; Markdown links,
    autolinks and existing Slack links become Slack links; headings and `**bold**`
    become `*bold*`, `*italic*` becomes `_italic_`, `~~x~~` becomes `~x~`, list
    bullets become `•`. Everything else is escaped. With `cite_urls`, citation
    markers `[n]` become links to source n.
    """
    saved: list[str] = []

    def keep(value: str) -> str:
        saved.append(value)
        return f"\x00{len(saved) - 1}\x00"

    text = markdown.replace("\r\n", "\n").replace("\x00", "")
    text = _CODE_FENCE.sub(lambda m: keep(_fence(m.group(0))), text)
    text = _TABLE.sub(lambda m: keep(_table(m.group(0))), text)
    text = _INLINE_CODE.sub(lambda m: keep(escape(m.group(0))), text)
    text = _BROADCAST.sub(lambda m: keep(escape(_broadcast_label(m))), text)
    text = _SLACK_TOKEN.sub(lambda m: keep(m.group(0)), text)
    text = _MD_LINK.sub(lambda m: keep(link(m.group(2), _strip_md(m.group(1)))), text)
    text = _AUTOLINK.sub(lambda m: keep(link(m.group(1))), text)
    if cite_urls:

        def cite(m: re.Match[str]) -> str:
            url = cite_urls.get(int(m.group(1)), "")
            return keep(link(url, m.group(0))) if is_web_url(url) else m.group(0)

        text = _CITATION.sub(cite, text)
    text = escape(text)
    text = _HEADING.sub(lambda m: f"{_BOLD_MARK}{_strip_md(m.group(1))}{_BOLD_MARK}", text)
    text = _BOLD_ITALIC.sub(lambda m: f"{_BOLD_MARK}_{m.group(2)}_{_BOLD_MARK}", text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC_STAR.sub(lambda m: f"_{m.group(1)}_", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = text.replace(_BOLD_MARK, "*")
    # Placeholders may nest (a link inside saved text never does, but be safe).
    while _PLACEHOLDER.search(text):
        text = _PLACEHOLDER.sub(lambda m: saved[int(m.group(1))], text)
    return text


def _fence(block: str) -> str:
    """A fenced code block: drop the language tag (Slack shows it as code), escape the body."""
    body = block[3:]
    if body.endswith("```"):
        body = body[:-3]
    first, sep, rest = body.partition("\n")
    if sep and re.fullmatch(r"[\w+#.-]*", first.strip()):
        body = rest
    return "```\n" + escape(body.strip("\n")) + "\n```"


def _table(block: str) -> str:
    """A Markdown table as a monospace block with aligned columns; Markdown dropped from cells."""
    rows = []
    for line in block.strip("\n").split("\n"):
        if _TABLE_RULE.match(line):
            continue
        line = line.strip()
        line = line[1:] if line.startswith("|") else line
        line = line[:-1] if line.endswith("|") and not line.endswith("\\|") else line
        cells = [c.replace("\x00", "|") for c in line.replace("\\|", "\x00").split("|")]
        rows.append([_strip_md(_MD_LINK.sub(r"\1", c)) for c in cells])
    if not rows:
        return block
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(map(len, rows)))]
    lines = [" | ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    return "```\n" + escape("\n".join(lines)) + "\n```" + ("\n" if block.endswith("\n") else "")


def _strip_md(text: str) -> str:
    """Drop Markdown emphasis markers from a short label (link text, heading)."""
    return re.sub(r"(\*\*|__|\*|`)", "", text).strip()


_INCOMING_LINK = re.compile(r"<([^<>|\n]+)(?:\|([^<>\n]*))?>")


def to_plain(text: str, bot_user_id: str = "") -> str:
    """Slack message text -> plain text for the bot core.

    Removes mentions of the bot, turns `<url|label>` into `label (url)`, user and
    channel references into readable names, and unescapes `&amp; &lt; &gt;`.
    """

    def replace(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            if bot_user_id and target[1:] == bot_user_id:
                return ""
            return f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            if target.startswith("!subteam^"):
                return label or "@group"
            return f"@{label or target[1:].split('^')[0]}"
        if label and label != target:
            bare = re.sub(r"^mailto:", "", target)
            return label if label == bare else f"{label} ({target})"
        return target

    plain = _INCOMING_LINK.sub(replace, text)
    plain = unescape(plain)
    return re.sub(r"[ \t]{2,}", " ", plain).strip()


def mentions(text: str, user_id: str) -> bool:
    """Whether Slack text mentions the given user (`<@U123>` or `<@U123|name>`)."""
    return bool(user_id) and re.search(rf"<@{re.escape(user_id)}(?:\|[^>]*)?>", text) is not None


def split(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split mrkdwn into pieces of at most `limit` characters.

    Prefers paragraph, then line, then word boundaries; avoids cutting through a
    `<...>` link or an `&amp;` entity. A code block that has to be cut is closed
    and reopened so each piece renders on its own.
    """
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        cut = _cut_point(text, limit)
        rest = text[cut:]
        # after a line break keep the next line's indent (code, nested bullets)
        head, text = text[:cut].rstrip(), rest.lstrip("\n") if rest[:1] == "\n" else rest.lstrip()
        if head.count("```") % 2 == 1:
            head, text = head + "```", "```" + text
        if head.strip("`").strip():
            pieces.append(head)
    if text.strip("`").strip():
        pieces.append(text)
    return pieces


def _cut_point(text: str, limit: int) -> int:
    # Leave room for a closing fence in case the piece ends inside a code block.
    window = limit - 3
    floor = max(limit // 3, 4)
    for sep in ("\n\n", "\n", " "):
        idx = text.rfind(sep, 0, window)
        if idx >= floor:
            safe = _safe(text, idx)
            if safe >= floor:
                return safe
    safe = _safe(text, window)
    return safe if safe >= floor else window


def _safe(text: str, idx: int) -> int:
    """Move a cut left so it does not fall inside `<...>` or an `&...;` entity."""
    opened = text.rfind("<", 0, idx)
    if opened > text.rfind(">", 0, idx):
        idx = opened
    amp = text.rfind("&", max(0, idx - 5), idx)
    if amp != -1 and ";" not in text[amp:idx]:
        idx = amp
    return idx


def truncate(text: str, limit: int) -> str:
    """Shorten to at most `limit` characters at a safe point, ending with an ellipsis."""
    if len(text) <= limit:
        return text
    room = limit - 4  # ellipsis plus a possible closing fence
    cut = _safe(text, room)
    head = text[: cut if cut > room // 2 else room].rstrip()
    if head.count("```") % 2 == 1:
        head += "```"
    return head + "…"
