"""Chat shorthand adds the docs' words to the keyword query."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError
from rag.synonyms import DEFAULT_SYNONYMS, expansion, load_synonyms, parse_synonyms


def test_shorthand_brings_the_docs_words_once() -> None:
    assert expansion("can i do that from the terminal?", DEFAULT_SYNONYMS) == "cli command"
    assert expansion("k8s creds for the repo, via the k8s api", DEFAULT_SYNONYMS) == (
        "kubernetes credentials repository"
    )
    assert expansion("how do I install notebooks", DEFAULT_SYNONYMS) == ""


def test_asking_where_the_docs_are_finds_the_page_naming_the_docs_website() -> None:
    # a component documented on its own site has a stub page titled "... Website"
    assert expansion("where do the full kale docs live?", DEFAULT_SYNONYMS) == (
        "documentation website"
    )


def test_a_file_lists_word_and_the_docs_words_with_comments() -> None:
    text = "# ours\nkfp: kubeflow pipelines\n\nSSO: single sign-on  # the docs say OIDC too\nsso: oidc\n"
    assert parse_synonyms(text) == {
        "kfp": ("kubeflow", "pipelines"),
        "sso": ("single", "sign-on", "oidc"),
    }


def test_a_korean_word_is_an_entry_like_any_other(tmp_path: Path) -> None:
    # the documented format is `word: words the docs use`, in any language (docs/ko too)
    text = "터미널: cli command\nk8s: 쿠버네티스 kubernetes\n"
    assert parse_synonyms(text) == {
        "터미널": ("cli", "command"),
        "k8s": ("쿠버네티스", "kubernetes"),
    }
    path = tmp_path / "syn.txt"
    path.write_text(text, "utf-8")
    assert load_synonyms(str(path))["터미널"] == ("cli", "command")  # start-up goes on


def test_a_korean_word_brings_the_docs_words_also_with_a_particle_attached() -> None:
    synonyms = {**DEFAULT_SYNONYMS, "터미널": ("cli", "command"), "저장소": ("repository",)}
    assert expansion("터미널 명령", synonyms) == "cli command"
    # Korean writes particles onto the word: "터미널에서" is "from the terminal"
    assert expansion("터미널에서 할 수 있나요?", synonyms) == "cli command"
    assert expansion("원격저장소", synonyms) == ""  # the word must start with the entry
    # an English word with a particle attached still finds its entry
    assert expansion("k8s에서 repo를 만드는 법", synonyms) == "kubernetes repository"


@pytest.mark.parametrize("line", ["kfp kubeflow pipelines", ": pipelines", "kfp:"])
def test_a_bad_line_is_named(line: str) -> None:
    with pytest.raises(ValueError, match="syn.txt, line 2"):
        parse_synonyms(f"ok: fine\n{line}\n", "syn.txt")


def test_the_operators_file_adds_to_the_built_in_list(tmp_path: Path) -> None:
    path = tmp_path / "syn.txt"
    path.write_text("terminal: kfp\nwt: widgetron\n", "utf-8")
    merged = load_synonyms(str(path))
    assert merged["terminal"] == ("cli", "command", "kfp")
    assert merged["wt"] == ("widgetron",)
    assert load_synonyms("") == DEFAULT_SYNONYMS


def test_an_unreadable_or_malformed_file_is_a_config_error_naming_the_variable(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="DOCBOT_SYNONYMS_FILE: cannot read"):
        load_synonyms(str(tmp_path / "missing.txt"))
    bad = tmp_path / "bad.txt"
    bad.write_text("no colon here\n", "utf-8")
    with pytest.raises(ConfigError, match="DOCBOT_SYNONYMS_FILE: bad.txt, line 1"):
        load_synonyms(str(bad))
