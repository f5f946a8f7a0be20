"""The `docbot` command line. The forms below are a contract other tools rely on.

    docbot ingest (--path DIR | --sitemap URL | --links FILE_OR_URL | --url URL) [--json]
    docbot scrape ... / docbot index [--force | --rollback]
    docbot retrieve [-k N] [--json] QUESTION      docbot retrieve --jsonl [-k N]
    docbot ask [--model NAME] [--no-rag] [--json] QUESTION      docbot ask --jsonl
    docbot chat | demo | serve | eval QUESTIONS.jsonl | stats | deploy ...

Models load once per process; the --jsonl modes answer many questions in one.
Errors print one clear line (no traceback) and exit non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from bot.config import STATE_URL_SCHEMES, ConfigError, Settings
from bot.types import section_label

log = logging.getLogger("docbot")

DEMO_QUESTIONS = [
    "How do I connect docbot to Slack?",
    "How can I switch the model to Claude on Bedrock?",
    "Who is allowed to re-ingest the docs?",
    "What is the capital of Australia?",
    "Slack에 docbot을 어떻게 연결하나요?",
]
NO_INDEX = "no index yet: run `docbot ingest --path DIR` first"


def repo_docs_dir() -> Path:
    """The bundled corpus: the project's own docs/ (next to the packages in a checkout)."""
    for candidate in (Path(__file__).resolve().parents[1] / "docs", Path.cwd() / "docs"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("the bundled docs/ folder was not found; run from a docbot checkout")


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def _jsonl_questions() -> list[str]:
    return [line.strip() for line in sys.stdin if line.strip()]


def _questions(args: argparse.Namespace) -> list[str]:
    """The questions of `retrieve` / `ask`: stdin's lines with --jsonl, else the arguments.

    Stripped, so that a blank question ("  ") is refused like a missing one instead of
    being searched, or answered with the chat's "ask me a question" and exit status 0."""
    questions = _jsonl_questions() if args.jsonl else [" ".join(args.question).strip()]
    if not questions or not questions[0]:
        raise ConfigError("give a question, or --jsonl with questions on stdin")
    return questions


# commands ------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.cli import settings_for_args, source_from_args
    from ingest.pipeline import SUMMARY_PREFIX, IngestRequest, format_summary, run_ingest

    settings = settings_for_args(args, settings)
    if (
        not any(getattr(args, k, None) for k in ("path", "sitemap", "links", "url"))
        and not settings.ingest_source
    ):
        raise ConfigError(
            "docbot ingest needs a source: --path DIR, --sitemap URL, --links FILE_OR_URL or --url URL"
        )
    spec = source_from_args(args, settings)
    request = IngestRequest(spec, force=args.force)

    async def say(text: str) -> None:
        # the closing summary is the result, printed on stdout below: not twice on a terminal
        if not args.json and not text.startswith(SUMMARY_PREFIX):
            print(text, file=sys.stderr)

    result = asyncio.run(
        run_ingest(
            request, settings, progress=not args.json and sys.stderr.isatty(), on_progress=say
        )
    )
    if args.json:
        _print_json(result)
    else:
        print(format_summary(result))
    return 0


def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    from ingest.index_job import run_index_job

    code, result = run_index_job(
        settings,
        force=args.force,
        rollback=args.rollback,
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.json:
        _print_json(result)
    elif "error" in result:
        print(
            f"docbot: {result['error']}" + (" (the live index is unchanged)" if code == 1 else ""),
            file=sys.stderr,
        )
    elif "rolled_back_to" in result:
        print(
            f"live index is now {result['rolled_back_to']} ({result['pages']} pages, {result['chunks']} chunks)"
        )
    elif result["index"].get("unchanged"):
        print(f"nothing changed: index version {result['index']['version']} stays live")
    else:
        index = result["index"]
        print(
            f"published {index['version']}: {index['pages']} pages, {index['chunks']} chunks "
            f"({index['chunks_embedded']} embedded, {index['chunks_reused']} reused)"
        )
    return code


GATE_WORDS = {
    "answer": "any model answers",
    "reader": "only a language model answers; the offline one declines",
    "decline": "declined",
}


def cmd_retrieve(args: argparse.Namespace, settings: Settings) -> int:
    from rag.retrieve import Retriever

    if args.k < 1:  # a negative k would slice hits off the end, 0 show none
        raise ConfigError(f"-k must be at least 1, got {args.k}")
    retriever = Retriever(settings)
    if not retriever.refresh():
        raise ConfigError(NO_INDEX)
    questions = _questions(args)
    if len(questions) > 1:  # a batch: ONNX Runtime soon pays for its start-up
        retriever.embedder.accelerate()
    for question in questions:
        found = retriever.search(question, k=max(args.k, settings.top_k))
        hits, judged = found[: args.k], found[: settings.top_k]  # judged: what the bot decides on
        relevance, gate = retriever.relevance(judged), retriever.gate(judged).value
        if args.jsonl or args.json:
            _print_json(
                {
                    "question": question,
                    "results": [h.to_dict() for h in hits],
                    "relevance": round(relevance, 4),
                    "gate": gate,
                }
            )
        else:
            for i, h in enumerate(hits, 1):
                print(f"{i}. {h.score:.3f}  {section_label(h.title, h.section)}\n   {h.url}")
            print(
                f"relevance {relevance:.3f} (top {len(judged)}): {GATE_WORDS[gate]} "
                f"[thresholds: {retriever.min_relevance:.2f} offline, "
                f"{retriever.llm_min_relevance:.2f} language model]"
            )
    return 0


def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.console import render, to_message
    from bot.core import Bot

    # the per-user limit guards a chat against one user's flood; the operator's own batch
    # (`ask --jsonl`) would get "you're asking too fast" after 20 questions, exit status 0
    bot = Bot.from_settings(dataclasses.replace(settings, rate_limit_per_minute=0))
    if args.model:
        name = bot.answerer.router.resolve(args.model)
        if name is None:
            raise ConfigError(
                f"--model: unknown model {args.model!r}; available: {', '.join(bot.answerer.router.names())}"
            )
    if not args.no_rag and not bot.answerer.retriever.refresh():
        # the chat's "no documentation is indexed yet" reply would exit 0: a script or
        # `docbot ask --jsonl` run would take every question for declined
        raise ConfigError(NO_INDEX)
    questions = _questions(args)
    if len(questions) > 1:  # a batch: ONNX Runtime soon pays for its start-up
        bot.answerer.retriever.embedder.accelerate()

    async def run() -> None:
        session = f"cli-{os.getpid()}"
        scope_msg = to_message("", user="cli", history=[], session=session)
        overrides: dict[str, Any] = {}
        if args.model:
            overrides["model"] = bot.answerer.router.resolve(args.model)
        if args.no_rag:
            overrides["rag"] = False
        bot.store.reset_settings(bot.scopes(scope_msg)[1])
        if overrides:
            bot.store.update_settings(bot.scopes(scope_msg)[1], **overrides)
        for question in questions:
            reply = await bot.handle(to_message(question, user="cli", history=[], session=session))
            if args.jsonl or args.json:
                out = reply.to_dict()
                out = {
                    "question": question,
                    **out,
                    "citations": [
                        {"n": c.n, "url": c.url, "title": c.title, "section": c.section}
                        for c in reply.citations
                    ],
                }
                _print_json(out)
            else:
                print(render(reply))
        bot.store.reset_settings(bot.scopes(scope_msg)[1])

    asyncio.run(run())
    return 0


def cmd_chat(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.console import chat_loop
    from bot.core import Bot

    bot = Bot.from_settings(settings)
    bot.answerer.retriever.embedder.accelerate()  # a session of questions: worth building
    return asyncio.run(chat_loop(bot))


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Ingest the bundled docs into a fresh data dir and answer sample questions, offline."""
    import dataclasses
    import tempfile

    from adapters.console import render, to_message
    from bot.core import Bot
    from ingest.pipeline import IngestRequest, format_summary, run_ingest
    from ingest.sources import SourceSpec

    started = time.perf_counter()
    data_dir = (
        Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="docbot-demo-"))
    )
    settings = dataclasses.replace(
        settings, data_dir=data_dir, state_url="", chroma_host="", default_model="extractive"
    )
    docs = repo_docs_dir()
    print(f"docbot demo: indexing the bundled docs ({docs}) into {data_dir} …", flush=True)
    result = asyncio.run(run_ingest(IngestRequest(SourceSpec("path", str(docs))), settings))
    print(format_summary(result), flush=True)
    bot = Bot.from_settings(settings)

    async def ask_all() -> None:
        for question in args.questions or DEMO_QUESTIONS:
            print(f"\n\033[1m? {question}\033[0m" if sys.stdout.isatty() else f"\n? {question}")
            reply = await bot.handle(to_message(question, user="demo", history=[], session="demo"))
            print(render(reply), flush=True)

    asyncio.run(ask_all())
    print(f"\ndemo finished in {time.perf_counter() - started:.1f}s (data: {data_dir})")
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.server import serve

    return asyncio.run(serve(settings, slack=not args.no_slack, teams=not args.no_teams))


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    from bot.state import StateStore
    from bot.stats import compute_stats, format_stats

    if args.days < 1:
        raise ConfigError(f"--days must be at least 1, got {args.days}")
    target = settings.state_url or settings.state_path
    if not str(target).startswith(STATE_URL_SCHEMES) and not Path(target).is_file():
        # a wrong data dir must not read as "Answers: 0", nor leave an empty database there
        raise ConfigError(
            f"no state database at {target} (set DOCBOT_DATA_DIR or DOCBOT_STATE_URL to the bot's)"
        )
    store = StateStore(target)
    since = time.time() - args.days * 86400
    if args.draft_questions is not None:
        return _write_drafts(args.draft_questions, store.answers(since), args.days)
    stats = compute_stats(store.answers(since), store.feedback_counts(since))
    if args.json:
        _print_json(stats)
    else:
        print(format_stats(stats, days=args.days).replace("*", ""))
    return 0


def _write_drafts(path: Path, answers: list[dict[str, Any]], days: int) -> int:
    from bot.drafts import draft_questions

    drafts = draft_questions(answers)
    try:
        with path.open("w", encoding="utf-8") as out:
            out.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in drafts)
    except OSError as exc:
        print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    declined = sum(d["kind"] == "unanswerable" for d in drafts)
    print(
        f"{len(drafts)} questions of the last {days} days drafted to {path} "
        f"({declined} declined, {len(drafts) - declined} answered): review each line, "
        'then remove its "reviewed": false'
    )
    return 0


# parser --------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    from ingest.cli import add_source_arguments

    parser = argparse.ArgumentParser(
        prog="docbot", description="Answers questions from product docs, with citations."
    )
    parser.add_argument(
        "--env-file", default=".env", help="read settings from this file too (default .env)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("ingest", help="scrape or read a source and publish a new index version")
    add_source_arguments(p)
    p.add_argument("--force", action="store_true", help="publish even if many pages were lost")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=cmd_ingest)

    try:
        from ingest.cli import register as register_scrape
        from ingest.cli import run_scrape

        register_scrape(sub).set_defaults(func=lambda a, s: run_scrape(a, s))
    except ImportError:  # pragma: no cover
        pass

    p = sub.add_parser(
        "index", help="build and publish an index version from the current docs snapshot"
    )
    p.add_argument("--force", action="store_true", help="publish even if many pages were lost")
    p.add_argument("--rollback", action="store_true", help="make the previous version live again")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("retrieve", help="show the sections retrieved for a question")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--jsonl", action="store_true", help="questions on stdin, one JSON result per line"
    )
    p.add_argument("question", nargs="*")
    p.set_defaults(func=cmd_retrieve)

    p = sub.add_parser("ask", help="answer a question with citations")
    p.add_argument("--model", help="model name (see `docbot ask --model ?`)")
    p.add_argument(
        "--no-rag", action="store_true", help="answer from the model alone, without the docs"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--jsonl", action="store_true", help="questions on stdin, one JSON answer per line"
    )
    p.add_argument("question", nargs="*")
    p.set_defaults(func=cmd_ask)

    sub.add_parser("chat", help="interactive chat in the terminal").set_defaults(func=cmd_chat)

    p = sub.add_parser("demo", help="index the bundled docs and answer sample questions, offline")
    p.add_argument("--data-dir", help="where to put the demo index (default: a new temp dir)")
    p.add_argument("questions", nargs="*")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="run the chat adapters and the health/metrics server")
    p.add_argument("--no-slack", action="store_true")
    p.add_argument("--no-teams", action="store_true")
    p.set_defaults(func=cmd_serve)

    from rag.evaluate import register as register_eval
    from rag.evaluate import run as run_eval

    register_eval(sub).set_defaults(func=lambda a, s: run_eval(a, s))

    from rag.calibrate import register as register_calibrate
    from rag.calibrate import run as run_calibrate

    register_calibrate(sub).set_defaults(func=lambda a, s: run_calibrate(a, s))

    from rag.trained_gate import register as register_train_gate
    from rag.trained_gate import run as run_train_gate

    register_train_gate(sub).set_defaults(func=lambda a, s: run_train_gate(a, s))

    p = sub.add_parser("stats", help="usage, declines, feedback and doc gaps from the answer log")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--draft-questions",
        type=Path,
        metavar="FILE",
        help="write the logged questions as a question set to review and label "
        "(for docbot eval, calibrate and train-gate)",
    )
    p.set_defaults(func=cmd_stats)

    try:
        from deploy.cli import register as register_deploy
        from deploy.cli import run as run_deploy

        register_deploy(sub).set_defaults(func=lambda a, s: run_deploy(a, s))
    except ImportError:  # pragma: no cover
        pass
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    parser = build_parser()
    args = parser.parse_args(argv)
    from bot.logs import configure

    try:
        settings = configure("docbot", env_file=args.env_file)
    except SystemExit as exc:  # a bad setting: the message is printed; return the status
        return int(exc.code or 2)
    try:
        return int(args.func(args, settings) or 0)
    except ConfigError as exc:
        print(f"docbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line; the traceback only at debug level
        log.debug("command failed", exc_info=True)
        print(f"docbot: {args.command} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
