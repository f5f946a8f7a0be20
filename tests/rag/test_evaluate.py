"""Specification of the evaluation set (tests/data/dev_questions.jsonl) and of rag.evaluate."""

from __future__ import annotations

import argparse
import csv
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from rag import evaluate
from rag.evaluate import (
    EvalQuestion,
    anchor_of,
    compute_metrics,
    distinct_pages,
    facts_found,
    format_table,
    load_questions,
    main,
    page_of,
    parse_questions,
    run_eval,
)
from tests.shared_dir import KUBEFLOW

DEV_SET = Path(__file__).parents[1] / "data" / "dev_questions.jsonl"
# Every question set over the Kubeflow corpus, tuned on or held out: each must point at real
# pages, headings and facts, or its numbers mean nothing.
KUBEFLOW_SETS = sorted(DEV_SET.parent.glob("*_questions.jsonl"))
KUBEFLOW_SETS = [p for p in KUBEFLOW_SETS if not p.name.startswith(("docs_", "ko_"))]
each_set = pytest.mark.parametrize("qset", KUBEFLOW_SETS, ids=lambda p: p.stem)
SITE = KUBEFLOW / "site"
DOCS = "https://docs.example.com/"

needs_corpus = pytest.mark.skipif(
    not (SITE / "pages.tsv").is_file(), reason="shared Kubeflow corpus not present"
)


def q(
    id: str,
    kind: str = "single",
    urls: list[str] | None = None,
    anchor: str = "",
    facts: list[str] | None = None,
) -> EvalQuestion:
    if urls is None:
        urls = [] if kind == "unanswerable" else [DOCS + id + "/"]
    return EvalQuestion(id, f"question {id}?", urls, anchor, facts or [], kind)


def hits(*urls: str) -> list[dict]:
    return [{"url": u, "score": 1.0 / (i + 1)} for i, u in enumerate(urls)]


# ---------------------------------------------------------------- the development set


def test_dev_set_has_the_required_shape() -> None:
    questions = load_questions(DEV_SET)
    kinds = [x.kind for x in questions]
    assert len(questions) >= 60
    assert kinds.count("single") >= 40
    assert kinds.count("two_page") >= 6
    assert 18 <= kinds.count("unanswerable") <= 25
    for x in questions:
        assert x.question == x.question.strip() and len(x.question) < 200, x.id
        if x.kind == "unanswerable":
            assert x.expected_urls == [] and x.answer_facts == [] and x.expected_anchor == ""
            continue
        assert len(x.expected_urls) == (2 if x.kind == "two_page" else 1), x.id
        assert len(set(x.expected_urls)) == len(x.expected_urls), x.id
        assert 1 <= len(x.answer_facts) <= 3, x.id
        assert all(f == f.lower() for f in x.answer_facts), x.id
        assert all(u.startswith("https://www.kubeflow.org/docs/") for u in x.expected_urls)


def test_dev_set_is_written_like_slack_not_like_headings() -> None:
    questions = load_questions(DEV_SET)
    # Mostly lower-case, short, paraphrased questions.
    lower = sum(x.question[0].islower() for x in questions)
    assert lower / len(questions) > 0.8
    assert len({x.question.lower() for x in questions}) == len(questions)


@cache
def _site_pages() -> dict[str, str]:
    with (SITE / "pages.tsv").open(encoding="utf-8") as fh:
        return {r["canonical_url"]: r["path"] for r in csv.DictReader(fh, delimiter="\t")}


@cache
def _soup(url: str) -> Any:
    from bs4 import BeautifulSoup

    html = (SITE / _site_pages()[url].strip("/") / "index.html").read_text(encoding="utf-8")
    return BeautifulSoup(html, "lxml")


@cache
def _page_ids_and_text(url: str) -> tuple[frozenset[str], str]:
    soup = _soup(url)
    ids = frozenset(str(h["id"]) for h in soup.find_all(["h2", "h3", "h4"]) if h.get("id"))
    main_el = soup.find("main") or soup
    text = re.sub(r"\s+", " ", main_el.get_text(" ")).lower()
    return ids, text


@needs_corpus
@each_set
def test_every_expected_url_is_a_page_of_the_corpus(qset: Path) -> None:
    pages = _site_pages()
    for x in load_questions(qset):
        for url in x.expected_urls:
            assert url in pages, f"{x.id}: {url} is not in pages.tsv"


@needs_corpus
@each_set
def test_every_expected_anchor_is_a_heading_id_on_the_first_page(qset: Path) -> None:
    for x in load_questions(qset):
        if x.expected_anchor:
            ids, _ = _page_ids_and_text(x.expected_urls[0])
            assert x.expected_anchor in ids, f"{x.id}: no h2-h4 id={x.expected_anchor!r}"


def _section_text(url: str, anchor: str) -> str:
    """Text between the heading ``anchor`` and the next h1-h4 heading."""
    from bs4 import NavigableString, Tag

    heading = _soup(url).find(id=anchor)
    assert heading is not None
    parts: list[str] = []
    for el in heading.next_elements:
        if isinstance(el, Tag) and el.name in ("h1", "h2", "h3", "h4"):
            break
        if isinstance(el, NavigableString) and el.find_parent(heading.name) is not heading:
            parts.append(str(el))
    return " ".join("".join(parts).split())


@needs_corpus
@each_set
def test_every_expected_section_has_text_of_its_own(qset: Path) -> None:
    # An anchor on a heading with nothing but sub-headings under it could never be the
    # section a section-level retriever returns.
    for x in load_questions(qset):
        if x.expected_anchor:
            text = _section_text(x.expected_urls[0], x.expected_anchor)
            assert len(text) >= 40, f"{x.id}: section #{x.expected_anchor} is empty"


@needs_corpus
@each_set
def test_every_answer_fact_occurs_on_an_expected_page(qset: Path) -> None:
    for x in load_questions(qset):
        texts = [_page_ids_and_text(u)[1] for u in x.expected_urls]
        for fact in x.answer_facts:
            assert any(fact in t for t in texts), f"{x.id}: {fact!r} not on its page(s)"


# ---------------------------------------------------------------- loading


def test_load_questions_reads_fields(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    rows = [
        {
            "id": "a",
            "question": "how?",
            "expected_urls": [DOCS + "a/"],
            "expected_anchor": "#sec",
            "answer_facts": ["x"],
            "kind": "single",
        },
        {"id": "b", "question": "why?", "expected_urls": [], "kind": "unanswerable"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    a, b = load_questions(path)
    assert a == EvalQuestion("a", "how?", [DOCS + "a/"], "sec", ["x"], "single")
    assert a.answerable and not b.answerable
    assert b.expected_anchor == "" and b.answer_facts == []


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not valid JSON"),
        ('["a"]', "expected a JSON object"),
        ('{"id": "x", "question": "q"}', "missing field(s) kind"),
        ('{"id": "x", "question": "q", "kind": "maybe"}', "kind must be one of"),
        ('{"id": "x", "question": " ", "kind": "single", "expected_urls": ["u"]}', "non-empty"),
        ('{"id": "x", "question": "q", "kind": "single"}', "needs one expected URL"),
        ('{"id": "x", "question": "q", "kind": "two_page", "expected_urls": ["u"]}', "two"),
        ('{"id": "x", "question": "q", "kind": "unanswerable", "expected_urls": ["u"]}', "no "),
        ('{"id": "x", "question": "q", "kind": "single", "expected_urls": "u"}', "list of URLs"),
    ],
)
def test_bad_question_lines_name_the_line(line: str, message: str) -> None:
    good = '{"id": "ok", "question": "q", "kind": "unanswerable"}'
    with pytest.raises(ValueError, match=re.escape(message)) as err:
        parse_questions([good, line], source="set.jsonl")
    assert "set.jsonl:2" in str(err.value)


def test_duplicate_ids_and_empty_files_are_rejected() -> None:
    line = '{"id": "x", "question": "q", "kind": "unanswerable"}'
    with pytest.raises(ValueError, match="duplicate id 'x'"):
        parse_questions([line, line])
    with pytest.raises(ValueError, match="no questions"):
        parse_questions(["", "  "])


def test_a_set_with_several_bad_lines_is_refused_listing_every_one() -> None:
    """Not only the first: each bad line with file:line and why, so one pass fixes all."""
    good = '{"id": "ok", "question": "q", "kind": "unanswerable"}'
    lines = [
        good,
        "{not json",
        '{"id": "x", "question": "q", "kind": "singel", "expected_urls": ["u"]}',
        good,  # a duplicate id
    ]
    with pytest.raises(ValueError) as err:
        parse_questions(lines, source="set.jsonl")
    message = str(err.value)
    assert message.startswith("set.jsonl: 3 bad lines")
    assert "set.jsonl:2: not valid JSON" in message
    assert "set.jsonl:3: kind must be one of" in message
    assert "set.jsonl:4: duplicate id 'ok'" in message


def test_the_listing_of_bad_lines_is_capped() -> None:
    lines = ["{not json"] * (evaluate.MAX_LISTED_ERRORS + 5)
    with pytest.raises(ValueError) as err:
        parse_questions(lines, source="set.jsonl")
    message = str(err.value)
    assert message.count("not valid JSON") == evaluate.MAX_LISTED_ERRORS
    assert message.endswith("... and 5 more")


@pytest.mark.parametrize(
    ("field", "guess"),
    [("expected_anchors", "expected_anchor"), ("answer_fact", "answer_facts"), ("notes", "")],
)
def test_an_unknown_field_is_refused_instead_of_silently_ignored(field: str, guess: str) -> None:
    """A misspelt optional field would score the question against no anchor / no facts."""
    line = {"id": "x", "question": "q", "kind": "single", "expected_urls": ["u"], field: "v"}
    with pytest.raises(ValueError, match=f"set.jsonl:1: unknown field\\(s\\) '{field}'") as err:
        parse_questions([json.dumps(line)], source="set.jsonl")
    assert (f"did you mean '{guess}'" in str(err.value)) == bool(guess)


def test_a_reviewed_draft_keeps_its_review_hint() -> None:
    line = {"id": "x", "question": "q", "kind": "unanswerable", "review": "declined: ..."}
    assert parse_questions([json.dumps(line)])[0].id == "x"


def test_a_file_that_is_not_utf8_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_bytes(b'{"id": "a", "question": "caf\xe9?", "kind": "unanswerable"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{path}: not UTF-8 text")):
        load_questions(path)


# ---------------------------------------------------------------- URL helpers


@pytest.mark.parametrize(
    ("url", "page"),
    [
        ("https://www.kubeflow.org/docs/a/b/#sec", "https://www.kubeflow.org/docs/a/b/"),
        ("https://www.kubeflow.org/docs/a/b#sec", "https://www.kubeflow.org/docs/a/b/"),
        ("https://www.kubeflow.org/docs/a/b", "https://www.kubeflow.org/docs/a/b/"),
        ("HTTPS://WWW.Kubeflow.org/docs/A/", "https://www.kubeflow.org/docs/A/"),
        ("https://x.org/docs/page.html#top", "https://x.org/docs/page.html"),
        ("https://x.org/search?q=1#r", "https://x.org/search/?q=1"),
        ("https://x.org", "https://x.org/"),
    ],
)
def test_page_of_strips_the_fragment_and_normalises_the_slash(url: str, page: str) -> None:
    assert page_of(url) == page


def test_anchor_of() -> None:
    assert anchor_of("https://x.org/a/#median-stopping-rule") == "median-stopping-rule"
    assert anchor_of("https://x.org/a/") == ""


def test_distinct_pages_keeps_rank_order_and_skips_repeats() -> None:
    results = hits(DOCS + "a/#1", DOCS + "a/#2", DOCS + "b", DOCS + "a/", DOCS + "c/#x")
    assert distinct_pages(results, 2) == [DOCS + "a/", DOCS + "b/"]
    assert distinct_pages(results, 10) == [DOCS + "a/", DOCS + "b/", DOCS + "c/"]


def test_facts_are_matched_case_and_whitespace_insensitively() -> None:
    text = "Set  `CD_REGISTRATION_FLOW`\nto true; Elyra\n4.0.0 works."
    assert facts_found(text, ["cd_registration_flow", "elyra 4.0.0", "median"]) == [
        "cd_registration_flow",
        "elyra 4.0.0",
    ]


# ---------------------------------------------------------------- metrics


def test_retrieval_metrics_on_a_worked_example() -> None:
    questions = [
        q("a", anchor="sec"),  # found at rank 1, right section in top 5
        q("b"),  # found as the 3rd distinct page (after repeats of x)
        q("c"),  # not found in the first 10 distinct pages
        q("t", "two_page", urls=[DOCS + "t1/", DOCS + "t2/"], anchor="s"),  # both in top 5
        q("u", "unanswerable"),  # not part of retrieval metrics
    ]
    filler = [DOCS + f"f{i}/" for i in range(12)]
    retrievals = [
        hits(DOCS + "a/#sec", DOCS + "z/"),
        hits(DOCS + "x/#1", DOCS + "x/#2", DOCS + "y/", DOCS + "b/#s"),
        hits(*filler[:10], DOCS + "c/"),
        hits(DOCS + "t2/#k", DOCS + "q/", DOCS + "t1/#s"),
        hits(DOCS + "a/"),
    ]
    m = compute_metrics(questions, retrievals, None)
    assert m["counts"] == {
        "single": 3,
        "two_page": 1,
        "unanswerable": 1,
        "total": 5,
        "answerable": 4,
        "answered_answerable": 0,
        "answered_unanswerable": 0,
        "fact_questions": 0,
        "declined_answerable": 0,
    }
    assert m["page_recall@1"] == pytest.approx(2 / 4)  # a, t
    assert m["page_recall@5"] == pytest.approx(3 / 4)  # a, b, t
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3 + 0 + 1) / 4)
    assert m["two_page_both@5"] == 1.0
    assert m["section_hit@5"] == pytest.approx(2 / 4)  # a#sec, t1#s
    assert m["by_kind"]["single"]["page_recall@1"] == pytest.approx(1 / 3)
    assert m["by_kind"]["two_page"]["page_recall@1"] == 1.0
    assert m["decline_rate_answerable"] is None and m["fact_coverage"] is None
    rows = {r["id"]: r for r in m["per_question"]}
    assert rows["b"]["first_hit_rank"] == 3 and rows["c"]["first_hit_rank"] is None
    assert "hit@1" not in rows["u"]


def test_two_page_needs_both_pages_in_the_top_5() -> None:
    t = q("t", "two_page", urls=[DOCS + "p/", DOCS + "r/"])
    only_one = hits(DOCS + "p/", *(DOCS + f"f{i}/" for i in range(4)), DOCS + "r/")
    m = compute_metrics([t], [only_one])
    assert m["page_recall@1"] == 1.0 and m["two_page_both@5"] == 0.0


def test_section_hit_counts_raw_results_and_page_top_answers() -> None:
    questions = [q("a", anchor="deep"), q("b", anchor="")]
    retrievals = [
        hits(*(DOCS + f"a/#s{i}" for i in range(5)), DOCS + "a/#deep"),  # 6th result: miss
        hits(DOCS + "b/#intro", DOCS + "b"),  # page top without a fragment: hit
    ]
    m = compute_metrics(questions, retrievals)
    rows = {r["id"]: r for r in m["per_question"]}
    assert rows["a"]["section_hit@5"] is False
    assert rows["b"]["section_hit@5"] is True


def test_retrieval_results_may_be_hit_objects() -> None:
    @dataclass
    class Hit:
        url: str
        score: float

    m = compute_metrics([q("a", anchor="s")], [[Hit(DOCS + "a/#s", 0.9)]])
    assert m["page_recall@1"] == 1.0 and m["section_hit@5"] == 1.0


def test_answer_metrics() -> None:
    questions = [
        q("a", facts=["alpha", "beta"]),
        q("b", facts=["gamma"]),
        q("c", facts=["delta"]),
        q("u1", "unanswerable"),
        q("u2", "unanswerable"),
    ]
    answers = [
        {"answer": "ALPHA is set; no second fact", "citations": [{"n": 1, "url": DOCS + "a/#x"}]},
        {"answer": "It is   gamma.", "citations": [{"n": 1, "url": DOCS + "zzz/"}]},
        {"answer": "I could not find this in the docs.", "declined": True, "citations": []},
        {"answer": "Not covered by the docs.", "declined": True},
        {"answer": "Here is a guess.", "declined": False},
    ]
    m = compute_metrics(questions, [[] for _ in questions], answers)
    assert m["decline_rate_answerable"] == pytest.approx(1 / 3)
    assert m["decline_rate_unanswerable"] == pytest.approx(1 / 2)
    # Pooled over the non-declined answerable answers: alpha, gamma found; beta missing.
    assert m["fact_coverage"] == pytest.approx(2 / 3)
    assert m["citation_page_hit"] == pytest.approx(1 / 2)
    assert m["counts"]["answered_answerable"] == 3 and m["counts"]["fact_questions"] == 2


def test_declines_that_link_an_expected_page_are_counted() -> None:
    # a near-miss decline points at the nearest sections: does one of them answer?
    questions = [q("a"), q("b"), q("c"), q("u", "unanswerable")]
    pointer = "I couldn't find this... may not answer it: [A › S]({url}) · [Z]({other})"
    answers = [
        {"answer": pointer.format(url=DOCS + "a/#s", other=DOCS + "z/"), "declined": True},
        {"answer": pointer.format(url=DOCS + "y/", other=DOCS + "z/"), "declined": True},
        {"answer": "An answer [1].", "declined": False},
        {"answer": pointer.format(url=DOCS + "a/", other=DOCS + "z/"), "declined": True},
    ]
    m = compute_metrics(questions, [[] for _ in questions], answers)
    assert m["decline_pointer_hit"] == pytest.approx(1 / 2)
    assert m["counts"]["declined_answerable"] == 2
    assert "links an expected page" in format_table(m, "t")


def test_answers_without_text_count_only_declines() -> None:
    # The baselines' "never declines" answers: no answer text, so no fact coverage.
    questions = [q("a", facts=["x"]), q("u", "unanswerable")]
    m = compute_metrics(questions, [[], []], [{"declined": False}, {"declined": False}])
    assert m["decline_rate_answerable"] == 0.0 and m["decline_rate_unanswerable"] == 0.0
    assert m["fact_coverage"] is None and m["citation_page_hit"] is None


def test_missing_answers_are_skipped() -> None:
    m = compute_metrics([q("a"), q("b")], [[], []], [None, {"declined": True, "answer": ""}])
    assert m["decline_rate_answerable"] == 1.0 and m["counts"]["answered_answerable"] == 1


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="2 questions but 1 retrieval"):
        compute_metrics([q("a"), q("b")], [[]])
    with pytest.raises(ValueError, match="1 questions but 0 answers"):
        compute_metrics([q("a")], [[]], [])


def test_metrics_are_json_serialisable() -> None:
    m = compute_metrics([q("a"), q("u", "unanswerable")], [hits(DOCS + "a/"), []])
    assert json.loads(json.dumps(m))["page_recall@1"] == 1.0


# ---------------------------------------------------------------- table


def test_format_table_is_aligned_and_shows_targets() -> None:
    questions = [q("a", facts=["x"]), q("u", "unanswerable")]
    m = compute_metrics(questions, [hits(DOCS + "a/"), []], [{"answer": "x"}, {"answer": "?"}])
    table = format_table(m, "dev set")
    lines = table.splitlines()
    assert lines[0] == "dev set"
    assert lines[1].startswith("questions: 2 (1 single, 0 two_page, 1 unanswerable)")
    body = [ln for ln in lines if ln.startswith(("page recall", "MRR", "section", "declined"))]
    assert len(body) == 6
    # Values are right-aligned in one column.
    ends = {ln.index(".") for ln in body}
    assert len(ends) == 1
    row = {ln.split("  ")[0]: ln.split() for ln in lines}
    assert row["page recall@1"][2:4] == ["1.000", "1"]
    assert row["both pages in top 5 (two_page)"][6] == "-"  # no two_page questions
    assert ">= 0.85" in table and "ok" in table and "MISS" in table  # unanswerable not declined


# ---------------------------------------------------------------- driver


def test_run_eval_calls_the_retriever_and_answerer_and_survives_errors() -> None:
    @dataclass
    class Hit:
        url: str
        score: float

    @dataclass
    class Citation:
        n: int
        url: str
        title: str

    @dataclass
    class Reply:
        text: str
        citations: list[Citation]
        declined: bool = False

    questions = [q("a", anchor="s", facts=["alpha"]), q("b"), q("u", "unanswerable")]
    corpus = {"question a?": [Hit(DOCS + "a/#s", 0.8)], "question u?": []}

    def retrieve(text: str, history: Sequence[str]) -> list[Hit]:
        if text not in corpus:
            raise RuntimeError("index is not built\nsecond line with details")
        return corpus[text]

    def answer(text: str, history: Sequence[str]) -> object:
        if text == "question u?":
            return {"answer": "Not in the docs.", "declined": True, "citations": []}
        return Reply("alpha it is [1]", [Citation(1, DOCS + "a/#s", "A")])

    m = run_eval(questions, retrieve, answer)
    assert m["page_recall@1"] == pytest.approx(1 / 2)
    assert m["decline_rate_unanswerable"] == 1.0
    assert m["decline_rate_answerable"] == 0.0
    assert m["fact_coverage"] == 1.0
    assert m["errors"] == [
        {"id": "b", "stage": "retrieve", "error": "RuntimeError: index is not built"}
    ]
    assert m["latency_ms"]["retrieve_p50"] is not None
    assert m["per_question"][0]["top_urls"] == [DOCS + "a/#s"]
    assert "errors: 1" in format_table(m, "t")


def test_run_eval_without_an_answerer_reports_retrieval_only() -> None:
    m = run_eval([q("a")], lambda text, history: hits(DOCS + "a/"), None)
    assert m["page_recall@1"] == 1.0
    assert m["decline_rate_answerable"] is None
    assert m["latency_ms"]["answer_p50"] is None


def test_cli_scores_precomputed_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    qs = tmp_path / "q.jsonl"
    qs.write_text(
        json.dumps(
            {
                "id": "a",
                "question": "how a?",
                "expected_urls": [DOCS + "a/"],
                "expected_anchor": "",
                "answer_facts": ["alpha"],
                "kind": "single",
            }
        )
        + "\n"
        + json.dumps({"id": "u", "question": "lunch?", "expected_urls": [], "kind": "unanswerable"})
        + "\n",
        encoding="utf-8",
    )
    rr = tmp_path / "r.jsonl"
    rr.write_text(
        json.dumps({"question": "lunch?", "results": []})
        + "\n"
        + json.dumps({"question": "how a?", "results": hits(DOCS + "a/", DOCS + "b/")})
        + "\n",
        encoding="utf-8",
    )
    aa = tmp_path / "a.jsonl"
    aa.write_text(
        json.dumps({"question": "how a?", "answer": "Alpha.", "citations": [], "declined": False})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "m.json"
    rc = main([str(qs), "--retrievals", str(rr), "--answers", str(aa), "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr()
    assert "page recall@1" in printed.out
    assert "no answers for 1 question(s): u" in printed.err
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["page_recall@1"] == 1.0 and data["fact_coverage"] == 1.0
    assert data["counts"]["answered_unanswerable"] == 0


def test_cli_reports_bad_input_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    qs = tmp_path / "q.jsonl"
    qs.write_text('{"id": "a", "question": "q", "kind": "nope"}\n', encoding="utf-8")
    rc = main([str(qs), "--retrievals", str(tmp_path / "missing.jsonl")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("error: ") and "q.jsonl:1" in err and "Traceback" not in err


# ---------------------------------------------------------------- `docbot eval` wiring


def _eval_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="docbot")
    evaluate.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_register_adds_the_eval_subcommand() -> None:
    args = _eval_args(["eval", "q.jsonl", "--json", "out.json", "--no-answers"])
    assert args.command == "eval"
    assert args.questions == Path("q.jsonl") and args.json_out == Path("out.json")
    assert args.no_answers is True and args.k == 10 and args.model is None


def test_run_rejects_a_bad_question_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bot.config import Settings

    rc = evaluate.run(_eval_args(["eval", str(tmp_path / "nope.jsonl")]), Settings())
    assert rc == 2 and "nope.jsonl" in capsys.readouterr().err


def test_run_without_a_live_index_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from bot.config import Settings

    qs = tmp_path / "q.jsonl"
    qs.write_text('{"id": "u", "question": "lunch?", "kind": "unanswerable"}\n', "utf-8")
    rc = evaluate.run(_eval_args(["eval", str(qs)]), Settings(data_dir=tmp_path / "data"))
    assert rc == 2 and "no index is live" in capsys.readouterr().err


@pytest.mark.parametrize("where", ["missing/m.json", "."])
def test_an_unwritable_json_report_is_refused_before_the_run(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """Not after minutes of answering, when the per-question rows would be lost."""
    from bot.config import Settings

    qs = tmp_path / "q.jsonl"
    qs.write_text('{"id": "u", "question": "lunch?", "kind": "unanswerable"}\n', "utf-8")
    out = tmp_path / where
    args = _eval_args(["eval", str(qs), "--json", str(out)])
    rc = evaluate.run(args, Settings(data_dir=tmp_path / "data"))
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error: cannot write {out}: ") and err.count("\n") == 1


def test_run_eval_reports_each_question_done_for_a_progress_bar() -> None:
    done: list[int] = []
    run_eval(
        [q("a"), q("b"), q("u", "unanswerable")], lambda _t, _h: [], on_done=lambda: done.append(1)
    )
    assert len(done) == 3


def test_a_follow_up_is_retrieved_and_answered_with_its_thread() -> None:
    """`history` holds the thread's earlier user messages; both callables receive it."""
    [fu] = parse_questions(
        [
            '{"id": "f01", "question": "and for katib?", "history": ["install notebooks?"],'
            f' "expected_urls": ["{DOCS}katib/"], "expected_anchor": "", "kind": "single"}}'
        ]
    )
    assert fu.history == ["install notebooks?"]
    seen: list[tuple[str, list[str]]] = []

    def retrieve(text: str, history: Sequence[str]) -> list[dict[str, object]]:
        seen.append((text, list(history)))
        return hits(DOCS + ("katib/" if history else "notebooks/"))

    def answer(text: str, history: Sequence[str]) -> dict[str, object]:
        seen.append((text, list(history)))
        return {"answer": "Katib [1]", "declined": False, "citations": []}

    m = run_eval([fu, q("a")], retrieve, answer)
    assert seen[:2] == [("and for katib?", ["install notebooks?"])] * 2
    assert seen[2][1] == []  # a question that starts a thread has none
    assert m["per_question"][0]["hit@1"] is True


def test_history_must_be_a_list_of_messages() -> None:
    line = (
        '{"id": "f02", "question": "and v1?", "history": "install kfp",'
        f' "expected_urls": ["{DOCS}a/"], "kind": "single"}}'
    )
    with pytest.raises(ValueError, match="history must be a list"):
        parse_questions([line], "fu.jsonl")


def test_docbot_eval_asks_follow_ups_with_their_thread_unless_told_not_to(
    built_settings: Any, tmp_path: Path
) -> None:
    """On a real index: "does it need to be stopped?" means the upgrade only in its thread."""
    qs = tmp_path / "fu.jsonl"
    qs.write_text(
        json.dumps(
            {
                "id": "f01",
                "question": "does it need to be stopped first?",
                "history": ["how do I upgrade widgetron"],
                "expected_urls": ["https://docs.example.com/install/"],
                "expected_anchor": "upgrade",
                "kind": "single",
            }
        )
        + "\n",
        "utf-8",
    )
    results = {}
    for flag in ([], ["--no-history"]):
        out = tmp_path / f"m{len(flag)}.json"
        rc = evaluate.run(_eval_args(["eval", str(qs), "--json", str(out), *flag]), built_settings)
        assert rc == 0
        results[bool(flag)] = json.loads(out.read_text("utf-8"))
    assert results[False]["page_recall@1"] == 1.0
    assert results[True]["page_recall@1"] < 1.0


def _qline(qid: str, question: str, urls: list[str], anchor: str = "", **extra: Any) -> str:
    kind = extra.pop("kind", "single" if urls else "unanswerable")
    return json.dumps(
        {
            "id": qid,
            "question": question,
            "expected_urls": urls,
            "expected_anchor": anchor,
            "kind": kind,
            **extra,
        }
    )


@pytest.mark.slow
def test_docbot_eval_measures_a_language_model_over_the_bedrock_wire(
    built_settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`docbot eval … --model bedrock` is how the declines of a reading model are measured
    where Bedrock is reachable. Here a stand-in service plays the model: it rewrites the
    follow-up, answers from the sources, and says NOT_IN_DOCS when they don't cover it."""
    from dataclasses import replace

    from tests.fake_bedrock import FakeBedrock, last_user_text, request_text

    def reader(body: dict[str, Any]) -> str:
        if "standalone question" in request_text(body):
            return "Does upgrading Widgetron need the server stopped first?"
        if "gold" in last_user_text(body).lower():
            return "NOT_IN_DOCS"
        return "Stop the server, run `pip install --upgrade widgetron`, then start it [1]."

    fake = FakeBedrock(reader)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "not-a-secret",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": fake.start(),
    }.items():
        monkeypatch.setenv(name, value)
    install = "https://docs.example.com/install/"
    qs = tmp_path / "llm.jsonl"
    qs.write_text(
        "\n".join(
            [
                _qline(
                    "a1",
                    "how do I upgrade widgetron",
                    [install],
                    "upgrade",
                    answer_facts=["pip install --upgrade widgetron"],
                ),
                _qline(
                    "f1",
                    "does it need to be stopped first?",
                    [install],
                    "upgrade",
                    history=["how do I upgrade widgetron"],
                ),
                _qline("u1", "can widgets be painted in metallic gold?", []),
                _qline("u2", "where do I park my bike at the office?", []),
            ]
        )
        + "\n",
        "utf-8",
    )
    out = tmp_path / "llm.json"
    settings = replace(built_settings, aws_region="us-east-1")
    try:
        rc = evaluate.run(
            _eval_args(["eval", str(qs), "--model", "bedrock", "--json", str(out)]), settings
        )
    finally:
        fake.stop()
    assert rc == 0
    m = json.loads(out.read_text("utf-8"))
    declined = {p["id"]: p["declined"] for p in m["per_question"]}
    assert declined == {"a1": False, "f1": False, "u1": True, "u2": True}
    assert m["fact_coverage"] == 1.0 and m["page_recall@1"] == 1.0
    ops = [op for _, op, _ in fake.requests]
    rewrites = [b for _, _, b in fake.requests if "standalone question" in request_text(b)]
    # the follow-up was rewritten once, with its thread; the model read the sources for a1, f1
    # and u1 (which the offline answerer would answer: its words are all in the docs), while
    # the office question was declined by the gate in front of the model
    assert len(rewrites) == 1 and "how do I upgrade widgetron" in request_text(rewrites[0])
    assert len(ops) == 4 and set(ops) == {"converse-stream"}

    offline = tmp_path / "offline.json"
    assert evaluate.run(_eval_args(["eval", str(qs), "--json", str(offline)]), settings) == 0
    per = {p["id"]: p["declined"] for p in json.loads(offline.read_text("utf-8"))["per_question"]}
    assert per["u1"] is False and per["u2"] is True
