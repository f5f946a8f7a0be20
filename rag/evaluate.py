"""Retrieval and answer evaluation over a JSONL question set.

The question set format (one JSON object per line, see ``tests/data/README.md``)::

    {"id": "s01", "question": "...", "expected_urls": ["https://.../page/"],
     "expected_anchor": "section-id", "answer_facts": ["phrase", ...],
     "kind": "single" | "two_page" | "unanswerable",
     "history": ["an earlier message of the thread", ...]}   # optional, oldest first

A question with ``history`` is a follow-up in a thread: it is retrieved and answered with
those earlier user messages as the thread's turns, and the expectations describe what the
thread means, not the follow-up's words alone.

Retrieval results per question are lists of dicts ``{"url": page URL with "#anchor",
"score": float}``, best first (the ``docbot retrieve --jsonl`` contract). Answers are dicts
of the ``docbot ask --jsonl`` contract: ``{"answer", "citations": [{"n", "url", "title"}],
"declined": bool, ...}``.

Everything here is pure except :func:`run_eval` (which calls the retriever and answerer it
is given) and :func:`main` (a small command line for evaluating precomputed JSONL files).
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bot.types import Turn

# what `docbot eval` and `docbot calibrate` say before any ingest
NO_INDEX = "error: no index is live; run the ingest (scrape + index) first"

KINDS = ("single", "two_page", "unanswerable")
ANSWERABLE_KINDS = ("single", "two_page")
# `"reviewed": false` marks a line drafted from the answer log (`bot.drafts`) that no
# person has checked yet: refused, so a draft is never taken for a label.
REVIEW_KEY = "reviewed"
# Every field a question line may have (`review`: the draft's hint of what to check, which
# may stay after review). Any other name is refused: a misspelt optional field
# (`expected_anchors`, `answer_fact`, `histroy`) would otherwise be dropped silently and
# score the question against "" / no facts / no thread, giving wrong metrics.
FIELDS = (
    "id",
    "question",
    "expected_urls",
    "expected_anchor",
    "answer_facts",
    "kind",
    "history",
    "review",
    REVIEW_KEY,
)
# Bad lines of a question file listed in one error, at most (a wrong file has thousands).
MAX_LISTED_ERRORS = 20

# How deep each metric looks. Recall counts distinct pages; section hit counts raw results.
RECALL_KS = (1, 5)
MRR_K = 10
SECTION_K = 5
BOTH_PAGES_K = 5

# Targets from the evaluation issue (#4), measured on held-out questions of the same kind.
# ("min", x): the value must be >= x; ("max", x): it must be <= x.
TARGETS: dict[str, tuple[str, float]] = {
    "page_recall@1": ("min", 0.85),
    "page_recall@5": ("min", 0.97),
    "mrr@10": ("min", 0.90),
    "two_page_both@5": ("min", 0.85),
    "section_hit@5": ("min", 0.75),
    "decline_rate_unanswerable": ("min", 0.90),
    "decline_rate_answerable": ("max", 0.05),
}

# Row order and labels of the printed table: (metric key, label, count key).
_TABLE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("page_recall@1", "page recall@1", "answerable"),
    ("page_recall@5", "page recall@5", "answerable"),
    ("mrr@10", "MRR@10", "answerable"),
    ("two_page_both@5", "both pages in top 5 (two_page)", "two_page"),
    ("section_hit@5", "section hit@5", "answerable"),
    ("decline_rate_answerable", "declined, answerable", "answered_answerable"),
    ("decline_rate_unanswerable", "declined, unanswerable", "answered_unanswerable"),
    ("decline_pointer_hit", "decline links an expected page (answerable)", "declined_answerable"),
    ("fact_coverage", "answer fact coverage", "fact_questions"),
    ("citation_page_hit", "cites an expected page", "fact_questions"),
)

_WS = re.compile(r"\s+")
_LINK = re.compile(r"\]\((\S+?)\)")  # the target of a Markdown link


@dataclass
class EvalQuestion:
    """One evaluation question.

    ``expected_anchor`` is the id of the h2-h4 heading holding the answer on
    ``expected_urls[0]`` ("" when the answer is the top of the page). For ``two_page``
    questions both pages are in ``expected_urls``; for ``unanswerable`` ones the list is empty.
    """

    id: str
    question: str
    expected_urls: list[str]
    expected_anchor: str
    answer_facts: list[str] = field(default_factory=list)
    kind: str = "single"
    history: list[str] = field(default_factory=list)  # earlier user messages, oldest first

    @property
    def answerable(self) -> bool:
        return self.kind in ANSWERABLE_KINDS


def thread_turns(history: Sequence[str]) -> list[Turn]:
    """A question's `history` as the thread the bot would see: the user's earlier messages."""
    return [Turn("user", text) for text in history]


# ---------------------------------------------------------------- loading


def _question_from_obj(obj: Any, where: str) -> EvalQuestion:
    """Validate one parsed JSON line; raise ValueError naming ``where`` on bad input."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    unknown = [k for k in obj if k not in FIELDS]
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(map(_with_guess, unknown))}")
    missing = [k for k in ("id", "question", "kind") if k not in obj]
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    kind = obj["kind"]
    if kind not in KINDS:
        raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    question = obj["question"]
    if not isinstance(question, str) or not question.strip():
        raise ValueError(f"{where}: question must be a non-empty string")
    urls = obj.get("expected_urls") or []
    facts = obj.get("answer_facts") or []
    anchor = obj.get("expected_anchor") or ""
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise ValueError(f"{where}: expected_urls must be a list of URLs")
    if not isinstance(facts, list) or not all(isinstance(f, str) and f for f in facts):
        raise ValueError(f"{where}: answer_facts must be a list of strings")
    if not isinstance(anchor, str):
        raise ValueError(f"{where}: expected_anchor must be a string")
    if obj.get(REVIEW_KEY) is False:
        raise ValueError(
            f"{where}: a draft from the answer log, not reviewed yet: check it (its 'review' "
            f'says what to look at), then remove "{REVIEW_KEY}": false'
        )
    history = obj.get("history") or []
    if not isinstance(history, list) or not all(isinstance(h, str) and h for h in history):
        raise ValueError(f"{where}: history must be a list of earlier messages (strings)")
    if kind == "unanswerable" and urls:
        raise ValueError(f"{where}: an unanswerable question has no expected_urls")
    if kind == "single" and len(urls) < 1:
        raise ValueError(f"{where}: a single-page question needs one expected URL")
    if kind == "two_page" and len(urls) < 2:
        raise ValueError(f"{where}: a two_page question needs two expected URLs")
    return EvalQuestion(
        id=str(obj["id"]),
        question=question,
        expected_urls=list(urls),
        expected_anchor=anchor.lstrip("#"),
        answer_facts=list(facts),
        kind=kind,
        history=list(history),
    )


def _with_guess(name: str) -> str:
    """An unknown field's name, with the known field it most likely misspells."""
    close = difflib.get_close_matches(name, FIELDS, n=1, cutoff=0.6)
    return f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)


def _line_question(text: str, where: str, seen: set[str]) -> EvalQuestion:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not valid JSON ({exc.msg})") from None
    q = _question_from_obj(obj, where)
    if q.id in seen:
        raise ValueError(f"{where}: duplicate id {q.id!r}")
    return q


def parse_questions(lines: Iterable[str], source: str = "<questions>") -> list[EvalQuestion]:
    """Parse JSONL text lines into questions; blank lines and ``//`` comments are skipped.

    A set with bad lines is refused as a whole (metrics over part of a set would pass for
    the set's), and the error lists every bad line (up to ``MAX_LISTED_ERRORS``) with
    ``file:line`` and the reason, so all of them can be fixed in one go.
    """
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    errors: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("//"):
            continue
        try:
            q = _line_question(text, f"{source}:{lineno}", seen)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        seen.add(q.id)
        questions.append(q)
    if len(errors) == 1:
        raise ValueError(errors[0])
    if errors:
        listed = errors[:MAX_LISTED_ERRORS]
        more = len(errors) - len(listed)
        raise ValueError(
            f"{source}: {len(errors)} bad lines, fix them all and run again:\n  "
            + "\n  ".join(listed)
            + (f"\n  ... and {more} more" if more else "")
        )
    if not questions:
        raise ValueError(f"{source}: no questions found")
    return questions


def load_questions(path: str | Path) -> list[EvalQuestion]:
    """Read a JSONL question file. Raises ValueError (with file:line) on bad content."""
    p = Path(path)
    with p.open(encoding="utf-8") as fh:
        try:
            return parse_questions(fh, source=str(p))
        except UnicodeDecodeError:  # a ValueError too, but its message names no file
            raise ValueError(f"{p}: not UTF-8 text (save it as UTF-8)") from None


# ---------------------------------------------------------------- URL helpers


def page_of(url: str) -> str:
    """The page a result URL belongs to: no ``#fragment``, lower-case scheme and host, and a
    trailing slash on the path (``.../page`` and ``.../page/`` are the same page)."""
    parts = urlsplit(url.strip())
    path = parts.path
    if not path.endswith("/"):
        last = path.rsplit("/", 1)[-1]
        # Only directory-style paths get the slash; ``/x/index.html`` stays a file.
        if "." not in last:
            path += "/"
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), path, parts.query, ""))


def anchor_of(url: str) -> str:
    """The ``#fragment`` of a URL without the ``#`` ("" when there is none)."""
    return urlsplit(url.strip()).fragment


def _result_url(result: Any) -> str:
    if isinstance(result, dict):
        return str(result.get("url") or "")
    return str(getattr(result, "url", "") or "")


def distinct_pages(results: Sequence[Any], k: int) -> list[str]:
    """The first ``k`` distinct pages among ``results``, in rank order."""
    pages: list[str] = []
    for r in results:
        url = _result_url(r)
        if not url:
            continue
        page = page_of(url)
        if page not in pages:
            pages.append(page)
            if len(pages) == k:
                break
    return pages


def _norm_text(text: str) -> str:
    return _WS.sub(" ", text).strip().lower()


def facts_found(answer_text: str, facts: Sequence[str]) -> list[str]:
    """The facts that occur in ``answer_text`` (case-insensitive, whitespace-normalised)."""
    hay = _norm_text(answer_text)
    return [f for f in facts if _norm_text(f) in hay]


# ---------------------------------------------------------------- metrics


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _question_retrieval(q: EvalQuestion, results: Sequence[Any]) -> dict[str, Any]:
    expected = {page_of(u) for u in q.expected_urls}
    pages = distinct_pages(results, max(MRR_K, BOTH_PAGES_K, *RECALL_KS))
    rank = next((i for i, p in enumerate(pages[:MRR_K], start=1) if p in expected), None)
    row: dict[str, Any] = {"first_hit_rank": rank}
    for k in RECALL_KS:
        row[f"hit@{k}"] = bool(expected & set(pages[:k]))
    row["both@5"] = expected <= set(pages[:BOTH_PAGES_K]) if q.kind == "two_page" else None
    target = (page_of(q.expected_urls[0]), q.expected_anchor)
    row["section_hit@5"] = any(
        (page_of(u), anchor_of(u)) == target for u in map(_result_url, results[:SECTION_K])
    )
    return row


def _question_answer(q: EvalQuestion, answer: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"declined": bool(answer.get("declined", False))}
    text = answer.get("answer")
    expected = {page_of(u) for u in q.expected_urls}
    if q.answerable and not row["declined"] and isinstance(text, str) and q.answer_facts:
        found = facts_found(text, q.answer_facts)
        row["facts_found"] = len(found)
        row["facts_total"] = len(q.answer_facts)
        cited = {page_of(str(c.get("url", ""))) for c in answer.get("citations") or []}
        row["cites_expected_page"] = bool(expected & cited)
    if q.answerable and row["declined"] and isinstance(text, str):
        # a near-miss decline links the nearest sections (rag.citations.nearest_links)
        row["decline_links_expected_page"] = bool(
            expected & {page_of(u) for u in _LINK.findall(text)}
        )
    return row


def compute_metrics(
    questions: Sequence[EvalQuestion],
    retrievals: Sequence[Sequence[Any]],
    answers: Sequence[dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Aggregate retrieval and answer metrics.

    Retrieval metrics are over answerable questions (``single`` and ``two_page``):

    - ``page_recall@k``: an expected page is among the first k distinct result pages;
    - ``mrr@10``: mean of 1/rank of the first expected page among 10 distinct pages (0 if none);
    - ``two_page_both@5``: for ``two_page`` questions, both pages in the top 5 distinct pages;
    - ``section_hit@5``: ``expected_urls[0]#expected_anchor`` is one of the first 5 result URLs
      (anchor "" matches a result for that page without a fragment).

    Answer metrics (``answers`` given, one per question, None entries skipped):

    - ``decline_rate_answerable`` / ``decline_rate_unanswerable``: share with ``declined`` true;
    - ``fact_coverage``: answer_facts found in the answer text over all facts, pooled over
      answerable, non-declined answers that carry an ``answer`` string (None if there are none);
    - ``citation_page_hit``: share of those answers that cite an expected page;
    - ``decline_pointer_hit``: share of declined answerable questions whose decline text
      links an expected page (the nearest sections a near-miss decline points at).

    Metrics that cannot be computed (no questions of that kind, no answers) are None.
    """
    if len(retrievals) != len(questions):
        raise ValueError(f"{len(questions)} questions but {len(retrievals)} retrieval lists")
    if answers is not None and len(answers) != len(questions):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")

    per_question: list[dict[str, Any]] = []
    for i, q in enumerate(questions):
        row: dict[str, Any] = {"id": q.id, "kind": q.kind}
        if q.answerable:
            row.update(_question_retrieval(q, retrievals[i]))
        if answers is not None and answers[i] is not None:
            row.update(_question_answer(q, answers[i]))  # type: ignore[arg-type]
        per_question.append(row)

    counts = {kind: sum(q.kind == kind for q in questions) for kind in KINDS}
    counts["total"] = len(questions)
    counts["answerable"] = counts["single"] + counts["two_page"]

    metrics: dict[str, Any] = {"counts": counts}
    metrics.update(_retrieval_summary(per_question))
    metrics["by_kind"] = {
        kind: _retrieval_summary([r for r in per_question if r["kind"] == kind])
        for kind in ANSWERABLE_KINDS
    }
    metrics.update(_answer_summary(per_question, counts))
    metrics["per_question"] = per_question
    return metrics


def _retrieval_summary(rows: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    rows = [r for r in rows if r["kind"] in ANSWERABLE_KINDS]
    out: dict[str, float | None] = {}
    for k in RECALL_KS:
        out[f"page_recall@{k}"] = _mean([float(r[f"hit@{k}"]) for r in rows])
    out["mrr@10"] = _mean([1.0 / r["first_hit_rank"] if r["first_hit_rank"] else 0.0 for r in rows])
    out["two_page_both@5"] = _mean([float(r["both@5"]) for r in rows if r["kind"] == "two_page"])
    out["section_hit@5"] = _mean([float(r["section_hit@5"]) for r in rows])
    return out


def _answer_summary(rows: Sequence[dict[str, Any]], counts: dict[str, int]) -> dict[str, Any]:
    answered = [r for r in rows if "declined" in r]
    ans = [r for r in answered if r["kind"] in ANSWERABLE_KINDS]
    unans = [r for r in answered if r["kind"] == "unanswerable"]
    with_facts = [r for r in ans if "facts_total" in r]
    total_facts = sum(r["facts_total"] for r in with_facts)
    counts["answered_answerable"] = len(ans)
    counts["answered_unanswerable"] = len(unans)
    counts["fact_questions"] = len(with_facts)
    pointed = [r for r in ans if "decline_links_expected_page" in r]
    counts["declined_answerable"] = len(pointed)
    return {
        "decline_rate_answerable": _mean([float(r["declined"]) for r in ans]),
        "decline_rate_unanswerable": _mean([float(r["declined"]) for r in unans]),
        "fact_coverage": (
            sum(r["facts_found"] for r in with_facts) / total_facts if total_facts else None
        ),
        "citation_page_hit": _mean([float(r["cites_expected_page"]) for r in with_facts]),
        "decline_pointer_hit": _mean([float(r["decline_links_expected_page"]) for r in pointed]),
    }


# ---------------------------------------------------------------- table


def _meets(key: str, value: float | None) -> str:
    if key not in TARGETS or value is None:
        return ""
    op, bound = TARGETS[key]
    ok = value >= bound if op == "min" else value <= bound
    return "ok" if ok else "MISS"


def format_table(metrics: dict[str, Any], title: str) -> str:
    """An aligned plain-text table of the headline metrics, with the issue's targets."""
    counts = metrics.get("counts", {})
    header = ("metric", "value", "n", "target", "")
    rows: list[tuple[str, ...]] = []
    for key, label, count_key in _TABLE_ROWS:
        value = metrics.get(key)
        target = ""
        if key in TARGETS:
            op, bound = TARGETS[key]
            target = f"{'>=' if op == 'min' else '<='} {bound:.2f}"
        rows.append(
            (
                label,
                "-" if value is None else f"{value:.3f}",
                str(counts.get(count_key, "")),
                target,
                _meets(key, value),
            )
        )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        left = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:4], widths[1:4], strict=True)]
        return "  ".join([left, *rest, cells[4]]).rstrip()

    rule = "-" * len(line(header))
    kinds = ", ".join(f"{counts.get(k, 0)} {k}" for k in KINDS)
    out = [title, f"questions: {counts.get('total', 0)} ({kinds})", rule, line(header), rule]
    out += [line(r) for r in rows]
    lat = metrics.get("latency_ms")
    if lat:
        out.append(rule)
        for name in ("retrieve", "answer"):
            p50, p95 = lat.get(f"{name}_p50"), lat.get(f"{name}_p95")
            if p50 is not None:
                out.append(f"{name} latency: p50 {p50:.0f} ms, p95 {p95:.0f} ms")
    if metrics.get("errors"):
        out.append(f"errors: {len(metrics['errors'])} (see per_question in the JSON)")
    return "\n".join(out)


# ---------------------------------------------------------------- driver


def _as_result(obj: Any) -> dict[str, Any]:
    """A retrieval hit as a plain dict (accepts dicts or objects with ``url``/``score``)."""
    if isinstance(obj, dict):
        return obj
    return {"url": getattr(obj, "url", ""), "score": getattr(obj, "score", None)}


def _as_answer(obj: Any) -> dict[str, Any]:
    """An answer as a ``docbot ask --jsonl`` dict (accepts dicts or Reply-like objects)."""
    if isinstance(obj, dict):
        return obj
    cites = [
        {"n": getattr(c, "n", None), "url": getattr(c, "url", ""), "title": getattr(c, "title", "")}
        for c in getattr(obj, "citations", None) or []
    ]
    return {
        "answer": getattr(obj, "text", ""),
        "citations": cites,
        "declined": bool(getattr(obj, "declined", False)),
    }


def run_eval(
    questions: Sequence[EvalQuestion],
    retrieve: Callable[[str, Sequence[str]], Sequence[Any]],
    answer: Callable[[str, Sequence[str]], Any] | None = None,
    on_done: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Run every question through ``retrieve`` (and ``answer`` when given) and compute metrics.

    ``on_done`` is called after each question (a progress bar's ``update``).

    Both callables take the question and its thread's earlier user messages (``history``,
    empty for a question that starts a thread) and are blocking; call this from a thread
    when inside an event loop. An exception for one question is recorded (as no results /
    no answer) instead of aborting the whole run, and listed in ``metrics["errors"]`` as
    the exception type and the first line of its message (truncated), never a traceback.
    """
    retrievals: list[list[dict[str, Any]]] = []
    answers: list[dict[str, Any] | None] | None = [] if answer is not None else None
    errors: list[dict[str, str]] = []
    t_retrieve: list[float] = []
    t_answer: list[float] = []
    for q in questions:
        t0 = time.perf_counter()
        try:
            results = [_as_result(r) for r in retrieve(q.question, q.history)]
        except Exception as exc:  # one bad question must not end the run
            errors.append({"id": q.id, "stage": "retrieve", "error": _describe(exc)})
            results = []
        t_retrieve.append((time.perf_counter() - t0) * 1000)
        retrievals.append(results)
        if answer is not None and answers is not None:
            t0 = time.perf_counter()
            try:
                answers.append(_as_answer(answer(q.question, q.history)))
            except Exception as exc:
                errors.append({"id": q.id, "stage": "answer", "error": _describe(exc)})
                answers.append(None)
            t_answer.append((time.perf_counter() - t0) * 1000)
        if on_done is not None:
            on_done()

    metrics = compute_metrics(questions, retrievals, answers)
    metrics["latency_ms"] = {
        "retrieve_p50": percentile(t_retrieve, 50),
        "retrieve_p95": percentile(t_retrieve, 95),
        "answer_p50": percentile(t_answer, 50),
        "answer_p95": percentile(t_answer, 95),
    }
    metrics["errors"] = errors
    for row, results in zip(metrics["per_question"], retrievals, strict=True):
        row["top_urls"] = [r.get("url", "") for r in results[:5]]
    return metrics


@contextmanager
def background_loop(name: str) -> Iterator[Any]:
    """An asyncio loop running on a daemon thread for the duration; stopped and closed after.

    Blocking evaluation code submits the pipeline's coroutines to it
    (`asyncio.run_coroutine_threadsafe`), so providers that keep an aiohttp session see
    a single loop for the whole run.
    """
    import asyncio
    import threading

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=name, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _describe(exc: BaseException) -> str:
    # Type plus a short message: enough to debug, short enough not to dump payloads.
    msg = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics without the per-question rows (for compact JSON reports)."""
    return {k: v for k, v in metrics.items() if k != "per_question"}


def write_json(metrics: dict[str, Any], path: str | Path, **extra: Any) -> None:
    """Write metrics (plus any ``extra`` top-level keys) as indented JSON."""
    Path(path).write_text(json.dumps({**extra, **metrics}, indent=2) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- CLI on precomputed files


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return rows


def _align(
    questions: Sequence[EvalQuestion], rows: Sequence[dict[str, Any]], what: str
) -> list[dict[str, Any] | None]:
    """Match output rows to questions by ``id`` or ``question`` text (missing rows: None)."""
    by_key: dict[str, dict[str, Any]] = {}
    for row in rows:
        for key in (row.get("id"), row.get("question")):
            if isinstance(key, str):
                by_key.setdefault(key, row)
    matched = [by_key.get(q.id) or by_key.get(q.question) for q in questions]
    missing = [q.id for q, m in zip(questions, matched, strict=True) if m is None]
    if missing:
        print(
            f"warning: no {what} for {len(missing)} question(s): {', '.join(missing[:10])}",
            file=sys.stderr,
        )
    return matched


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rag.evaluate",
        description="Score precomputed `docbot retrieve --jsonl` / `docbot ask --jsonl` output.",
    )
    p.add_argument("questions", type=Path, help="question set (JSONL)")
    p.add_argument("--retrievals", type=Path, required=True, help="docbot retrieve --jsonl output")
    p.add_argument("--answers", type=Path, help="docbot ask --jsonl output")
    p.add_argument("--json", type=Path, dest="json_out", help="write the metrics here")
    p.add_argument("--title", default="docbot evaluation")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        questions = load_questions(args.questions)
        rrows = _align(questions, _read_jsonl(args.retrievals), "retrieval results")
        retrievals = [list((r or {}).get("results") or []) for r in rrows]
        answers = None
        if args.answers:
            answers = _align(questions, _read_jsonl(args.answers), "answers")
        metrics = compute_metrics(questions, retrievals, answers)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_table(metrics, args.title))
    if args.json_out:
        write_json(metrics, args.json_out, title=args.title, questions=str(args.questions))
    return 0


# ---------------------------------------------------------------- `docbot eval` wiring


def _unwritable(path: Path) -> str:
    """Why the JSON report cannot be written to ``path`` ("" when it can be tried)."""
    if path.is_dir():
        return "it is a folder"
    if not path.parent.is_dir():
        return f"the folder {path.parent} does not exist"
    return ""


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``eval QUESTIONS.jsonl [--json OUT] [--no-answers] [--model NAME] [--k K]``."""
    p = subparsers.add_parser(
        "eval",
        help="score retrieval (and answers) on a question set",
        description="Page recall@1/@5, MRR@10, section hit@5, decline rates, fact coverage.",
    )
    p.add_argument("questions", type=Path, help="question set (JSONL), e.g. tests/data/...")
    p.add_argument("--json", type=Path, dest="json_out", help="write the metrics here")
    p.add_argument("--no-answers", action="store_true", help="retrieval metrics only")
    p.add_argument("--model", default=None, help="model for answers (default: DOCBOT_MODEL)")
    p.add_argument("--k", type=int, default=MRR_K, help="results retrieved per question")
    p.add_argument("--title", default="docbot", help="table title")
    p.add_argument(
        "--no-history",
        action="store_true",
        help="ask follow-ups without their thread (to measure what the thread adds)",
    )
    return p


def run(args: argparse.Namespace, settings: Any) -> int:
    """Run ``docbot eval`` against the live index with the real retriever and pipeline.

    Answers are generated on one private event loop (a background thread), so providers
    that keep an aiohttp session see a single loop for the whole run.
    """
    import asyncio

    from tqdm import tqdm

    from rag.pipeline import Answerer

    try:
        questions = load_questions(args.questions)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # said now, not after a run of minutes whose per-question rows would then be lost
    unwritable = args.json_out and _unwritable(args.json_out)
    if unwritable:
        print(f"error: cannot write {args.json_out}: {unwritable}", file=sys.stderr)
        return 2
    answerer = Answerer(settings)
    retriever = answerer.retriever
    retriever.embedder.accelerate()  # many questions: ONNX Runtime soon pays for itself
    if not retriever.refresh():
        print(NO_INDEX, file=sys.stderr)
        return 2
    k = max(int(args.k), SECTION_K)

    def turns(history: Sequence[str]) -> list[Turn]:
        return [] if args.no_history else thread_turns(history)

    def retrieve(text: str, history: Sequence[str]) -> list[Any]:
        return retriever.search(text, k=k, history=turns(history))

    with background_loop("docbot-eval") as loop:
        answer: Callable[[str, Sequence[str]], Any] | None = None
        if not args.no_answers:
            model = args.model or settings.default_model

            def answer(text: str, history: Sequence[str]) -> Any:
                coro = answerer.answer(text, model=model, history=turns(history))
                return asyncio.run_coroutine_threadsafe(coro, loop).result()

        # on stderr and only on a terminal, like the ingest's bars: stdout stays the table
        with tqdm(
            total=len(questions),
            desc="eval",
            unit="question",
            file=sys.stderr,
            disable=not sys.stderr.isatty(),
            leave=False,
        ) as bar:
            metrics = run_eval(questions, retrieve, answer, on_done=bar.update)
    print(format_table(metrics, f"{args.title}: {args.questions}"))
    if args.json_out:
        write_json(metrics, args.json_out, title=args.title, questions=str(args.questions))
        print(f"wrote {args.json_out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())


__all__ = [
    "EvalQuestion",
    "TARGETS",
    "anchor_of",
    "background_loop",
    "compute_metrics",
    "distinct_pages",
    "facts_found",
    "format_table",
    "load_questions",
    "page_of",
    "parse_questions",
    "register",
    "run",
    "run_eval",
    "summary",
    "write_json",
]
