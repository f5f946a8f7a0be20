"""Shared fixtures for the foundation tests: settings in a temp data dir, a small
Markdown corpus, the packaged embedding model (loaded once per process) and one
built index that read-only tests share.

Subdirectories keep their own conftest files; names here are prefixed so they
do not clash with theirs (`serve`, `store`, `bot`, ...).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.config import Settings

if TYPE_CHECKING:  # imported lazily at run time: the model loads only when a test needs it
    from rag.embeddings import Embedder

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# A small product's docs: distinct topics, so retrieval results are predictable.
CORPUS: dict[str, str] = {
    "install.md": """---
title: Installing Widgetron
description: How to install the Widgetron server and client.
date: 2024-03-05
---

Widgetron runs on Linux and macOS.

## Requirements

Widgetron needs Python 3.11 or newer and 4 GB of memory. A PostgreSQL database stores the widget catalog.

## Install with pip

Install the package with `pip install widgetron`, then run `widgetron init` to create the configuration file.

```bash
pip install widgetron
# this is a comment, not a heading
widgetron init
```

## Upgrade

To upgrade Widgetron, stop the server, run `pip install --upgrade widgetron`, and start the server again.
""",
    "slack.md": """---
title: Connecting Widgetron to Slack
---

## Create a Slack app

Open api.slack.com, create a new Slack app from the manifest, and install it to your workspace.
The bot token starts with xoxb and goes into the WIDGETRON_SLACK_TOKEN variable.

## Invite the bot

Invite the Widgetron bot to a Slack channel with the /invite command so that it can read mentions.
""",
    "backup.md": """# Backing up the widget catalog

Back up the widget catalog every night with `widgetron backup --output /var/backups`.
Backups are compressed archives of the PostgreSQL database and the uploaded widget images.

## Restore

Restore a backup with `widgetron restore FILE`; the server must be stopped while the restore runs.
""",
    "guide/_index.md": """+++
title = "Widget modelling guide"
+++

## Colours

Widgets can be painted in sixteen colours; the palette is configured in palette.yaml.

## Sizes

Widget sizes range from tiny to enormous, measured in widget units of 3 cm each.
""",
    "guide/pricing.md": """---
title: Widget pricing rules
---

## Discounts

Customers who order more than one hundred widgets get a volume discount of ten percent.

## Taxes

Sales tax is added to every widget invoice according to the customer's country.
""",
}


def make_settings(data_dir: Path, **env: str) -> Settings:
    """Settings from an explicit environment only (no .env, no real environment)."""
    values: Mapping[str, str] = {"DOCBOT_DATA_DIR": str(data_dir), **env}
    return Settings.from_env(values, env_file=None)


def write_corpus(root: Path, files: Mapping[str, str] | None = None) -> Path:
    """Write the Markdown files of `files` (default: CORPUS) under `root`."""
    for rel, text in (CORPUS if files is None else files).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The root logger's handlers and level put back after a test that configures logging."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.fixture(name="make_settings")
def make_settings_fixture() -> Callable[..., Settings]:
    """`make_settings(data_dir, DOCBOT_ADMINS="U1")` -> Settings from exactly those variables."""
    return make_settings


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A fresh copy of CORPUS under tmp_path/docs (tests may change it)."""
    return write_corpus(tmp_path / "docs")


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The packaged MiniLM, shared by the whole test session (loading takes seconds)."""
    from rag.embeddings import get_embedder

    return get_embedder()


@pytest.fixture(scope="session")
def built_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """A data dir with CORPUS indexed under https://docs.example.com/ (read-only for tests)."""
    from ingest.local import read_folder
    from rag.index_build import build_index

    root = tmp_path_factory.mktemp("shared-index")
    corpus = write_corpus(root / "docs")
    settings = make_settings(root / "data", DOCBOT_ADMINS="UADMIN")
    pages = read_folder(corpus, base_url="https://docs.example.com/")
    build_index(pages, settings, embedder=embedder)
    return settings
