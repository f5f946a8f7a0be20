"""The `/docbot` command grammar, the same on every platform (pure).

    /docbot help | status | model <name> | rag on|off | temperature <0..1>
            | length short|medium|long | language en|ko|auto | reset
            | reingest | stats                      (admins only)

Settings commands change the asker's own settings in this conversation; a
trailing `channel` (or `--channel`) changes the conversation's default for
everyone instead. Typed text works too: `docbot status`, `/docbot status`.
With the slash (or a platform slash command) every word is a command and an
unknown one gets help; without it, only known command words are commands, so
"docbot how do I install?" stays a question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.messages import t

COMMANDS = (
    "help",
    "status",
    "model",
    "rag",
    "temperature",
    "length",
    "language",
    "reset",
    "reingest",
    "stats",
)
ADMIN_COMMANDS = frozenset({"reingest", "stats"})
SETTING_COMMANDS = frozenset({"model", "rag", "temperature", "length", "language"})
ALIASES = {
    "temp": "temperature",
    "lang": "language",
    "models": "model",
    "?": "help",
    "ingest": "reingest",
}
# settings whose value is one of a few words
CHOICES: dict[str, tuple[str, ...]] = {
    "length": ("short", "medium", "long"),
    "language": ("en", "ko", "auto"),
}
_PREFIX = re.compile(r"^\s*(/)?docbot\b[\s:,]*", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    name: str
    value: str = ""  # normalised argument ("" when none)
    channel_scope: bool = False


@dataclass(frozen=True)
class CommandError:
    """A malformed command; `key`/`params` select a message from bot.messages."""

    key: str
    params: dict[str, str]


def _split(rest: str) -> tuple[str, list[str], bool]:
    words = rest.split()
    channel = False
    if words and words[-1].lower() in ("channel", "--channel"):
        channel = True
        words = words[:-1]
    if not words:
        return "", [], channel
    name = words[0].lower().lstrip("/")
    return ALIASES.get(name, name), words[1:], channel


def parse_command(
    text: str, *, is_command: bool = False, lang: str = "en"
) -> Command | CommandError | None:
    """None when the text is a question, not a command.

    `lang` is the reply's language, for the words an error message is filled with."""
    match = _PREFIX.match(text)
    if match:
        rest = text[match.end() :]
        explicit = bool(match.group(1)) or is_command
    elif is_command:
        rest, explicit = text, True
    else:
        return None
    name, args, channel = _split(rest)
    if not name:
        return Command("help") if explicit or not rest.strip() else None
    if name not in COMMANDS:
        if explicit:
            return CommandError("unknown_command", {"command": name})
        return None
    return _validate(name, args, channel, lang)


def addressed_command(text: str) -> str:
    """What follows a leading @mention of the bot, as the typed command when it is one.

    Slack allows no slash commands in threads and Teams none for bots, so the docs say
    to mention the bot and type the command: `@docbot help`. Only exactly a command
    counts - a bare command word, or a settings command with one value (`rag off`,
    `model bedrock`, `length short channel`) - and never text ending in "?", so
    "@docbot help me configure X" and "@docbot model registry?" stay questions.
    """
    stripped = text.strip()
    if not stripped or (stripped.endswith("?") and stripped != "?"):
        return text
    typed = f"docbot {stripped}"
    command = parse_command(typed)
    if isinstance(command, Command) and (
        not command.value or (command.name in SETTING_COMMANDS and len(command.value.split()) == 1)
    ):
        return typed
    return text


def _one_of(choices: tuple[str, ...], lang: str) -> str:
    """The choices as `a`, `b` or `c`, in the reply's language."""
    quoted = [f"`{c}`" for c in choices]
    return t("bad_value_one_of", lang, choices=", ".join(quoted[:-1]), last=quoted[-1])


def _validate(name: str, args: list[str], channel: bool, lang: str) -> Command | CommandError:
    arg = " ".join(args).strip()
    low = arg.lower()
    shown = arg or t("bad_value_nothing", lang)  # the value as a refusal quotes it
    if name == "reset":
        return Command(name, low, channel)
    if name in ("help", "status", "reingest", "stats"):
        # `channel` only scopes settings (and their reset); here it means nothing and is
        # ignored, so it cannot turn `status` into an "admins only" refusal.
        return Command(name, low)
    if name == "model":
        if not arg:
            return Command("model", "", channel)  # lists the models
        return Command("model", low, channel)
    if name == "rag":
        if low in ("on", "true", "yes", "1"):
            return Command("rag", "on", channel)
        if low in ("off", "false", "no", "0"):
            return Command("rag", "off", channel)
        return CommandError(
            "bad_value",
            {"command": "rag", "expected": _one_of(("on", "off"), lang), "value": shown},
        )
    if name == "temperature":
        try:
            value = float(low.replace(",", "."))
        except ValueError:
            value = -1.0
        if not 0.0 <= value <= 1.0 or value != value:  # NaN guard
            return CommandError(
                "bad_value",
                {
                    "command": "temperature",
                    "expected": t("bad_value_number", lang),
                    "value": shown,
                },
            )
        return Command("temperature", f"{value:g}", channel)
    if name in CHOICES:
        allowed = CHOICES[name]
        if low in allowed:
            return Command(name, low, channel)
        return CommandError(
            "bad_value", {"command": name, "expected": _one_of(allowed, lang), "value": shown}
        )
    return CommandError(
        "unknown_command", {"command": name}
    )  # pragma: no cover - COMMANDS covers all
