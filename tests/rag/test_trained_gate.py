"""A decline model trained on labelled questions (`docbot train-gate`, DOCBOT_GATE_MODEL)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings
from rag.retrieve import Retriever
from rag.trained_gate import (
    GATE_FILE,
    MAX_LENGTH,
    MAX_PROBE_DIFF,
    PROBE_PASSAGE,
    PROBE_QUESTION,
    WEIGHTS,
    GateConfig,
    OnnxScorer,
    Pair,
    Scored,
    TorchScorer,
    TrainedGate,
    choose_weight,
    combined,
    encode_pairs,
    folds_of,
    load_gate,
    load_model,
    passage,
    probe_logit,
    train,
    training_pairs,
)
from tests.rag.question_sets import FIT_ROWS, TRAIN_ROWS, write_question_set
from tests.tiny_models import cross_encoder

BASE = "https://docs.example.com/"
PACKAGED = Settings().embedding_model


@dataclass
class FakeHit:
    page_url: str
    title: str = "Install"
    section: str = "Requirements"
    text: str = "Python 3.10 or newer."
    answer_probability: float | None = None


# ---------------------------------------------------------------- pairs (pure)


def test_the_model_reads_title_section_and_text() -> None:
    assert (
        passage("Install", "Requirements", "Python 3.10.") == "Install. Requirements. Python 3.10."
    )
    assert passage("", "", "Just text.") == "Just text."


def test_an_answerable_question_pairs_its_expected_pages_with_one_other() -> None:
    hits = [FakeHit(BASE + "a/"), FakeHit(BASE + "b/"), FakeHit(BASE + "a/"), FakeHit(BASE + "c/")]
    pairs = training_pairs("how do i install it", [BASE + "a/"], hits)
    assert [p.label for p in pairs] == [1.0, 1.0, 0.0]  # two positives, the first other page
    assert all(p.question == "how do i install it" for p in pairs)


def test_an_expected_page_is_matched_however_its_url_is_written() -> None:
    # as `docbot eval` matches it: drafts write `.../install/`, a site may serve `.../install`
    hits = [FakeHit("https://docs.example.com/install"), FakeHit(BASE + "b/")]
    for expected in (BASE + "install/", BASE + "install", BASE + "install/#requirements"):
        assert [p.label for p in training_pairs("q", [expected], hits)] == [1.0, 0.0]


def test_an_unanswerable_question_teaches_that_its_best_matches_do_not_answer() -> None:
    hits = [FakeHit(BASE + "a/"), FakeHit(BASE + "b/"), FakeHit(BASE + "c/")]
    assert [p.label for p in training_pairs("is there a mobile app", [], hits)] == [0.0, 0.0]


def test_only_the_top_sections_are_read() -> None:
    hits = [FakeHit(BASE + "x/")] * 3 + [FakeHit(BASE + "a/")]
    assert [p.label for p in training_pairs("q", [BASE + "a/"], hits)] == [0.0]


def test_folds_deal_whole_sets_round_robin() -> None:
    sets = [Path(f"s{i}.jsonl") for i in range(5)]
    assert folds_of(sets, 2) == [sets[0::2], sets[1::2]]
    assert folds_of(sets, 5) == [[s] for s in sets]


@pytest.mark.parametrize(
    ("k", "message"), [(1, "at least 2"), (6, "needs at least 6 training sets")]
)
def test_folds_need_two_and_a_set_each(k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        folds_of([Path(f"s{i}.jsonl") for i in range(5)], k)


# ---------------------------------------------------------------- the weight (pure)

# The model tells these apart where the relevance cannot: the unanswerable questions score
# as high as the answerable ones without it.
SCORED = [Scored(True, 0.5 + i / 100, 0.9) for i in range(20)] + [
    Scored(False, 0.55, 0.1),
    Scored(False, 0.7, 0.2),
]


def test_the_signals_combine_at_a_weight() -> None:
    answerable, unanswerable = combined(SCORED, 0.5)
    assert answerable[0] == pytest.approx(0.95) and unanswerable == pytest.approx([0.6, 0.8])


def test_auto_weight_takes_the_one_that_declines_the_most_unanswerable() -> None:
    weight, fit = choose_weight(SCORED, WEIGHTS, 0.05, 0.0)
    assert weight == 0.5  # 0.25 declines one, 0.5 already both: ties go to the first listed
    assert (fit.fitted.unanswerable_declined, fit.reader.unanswerable_declined) == (2, 2)
    assert fit.fitted.answerable_declined <= 1
    only, _ = choose_weight(SCORED, [2.0], 0.05, 0.0)
    assert only == 2.0
    with pytest.raises(ValueError, match="answerable"):
        choose_weight([s for s in SCORED if not s.answerable], WEIGHTS, 0.05, 0.0)


# ---------------------------------------------------------------- gate.json


def test_gate_json_round_trips() -> None:
    config = GateConfig(0.6, 0.55, PACKAGED, trained_on=["a.jsonl"], pairs=10, positives=4)
    assert GateConfig.from_json(config.to_json()) == config
    probed = replace(config, probe_logit=-1.25)
    assert GateConfig.from_json(probed.to_json()) == probed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"format": 9}', "format 9"),
        ('{"format": 1, "min_relevance": 0.5}', "missing"),
        (
            '{"format": 1, "min_relevance": "x", "llm_min_relevance": 0.5, "embedding_model": "m"}',
            "min_relevance must be a number",
        ),
        (
            '{"format": 1, "min_relevance": 0.5, "llm_min_relevance": 0.5, "embedding_model": "m",'
            ' "weight": -1}',
            "weight must be >= 0",
        ),
        (
            '{"format": 1, "min_relevance": 0.5, "llm_min_relevance": 0.5, "embedding_model": "m",'
            ' "probe_logit": "high"}',
            "probe_logit must be a number",
        ),
        (
            '{"format": 1, "min_relevance": NaN, "llm_min_relevance": 0.5, "embedding_model": "m"}',
            "min_relevance must be a number",
        ),
        (
            '{"format": 1, "min_relevance": 0.5, "llm_min_relevance": 0.5, "embedding_model": "m",'
            ' "passages": "2"}',
            "passages must be a whole number",
        ),
        (
            '{"format": 1, "min_relevance": 0.5, "llm_min_relevance": 0.5, "embedding_model": "m",'
            ' "passages": 2.5}',
            "passages must be a whole number",
        ),
        (
            '{"format": 1, "min_relevance": 0.5, "llm_min_relevance": 0.5, "embedding_model": "m",'
            ' "max_length": "160"}',
            "max_length must be a whole number",
        ),
        (
            '{"format": 1, "min_relevance": 0.5, "llm_min_relevance": 0.5, "embedding_model": "m",'
            ' "trained_on": null}',
            "trained_on and fitted_on must be lists",
        ),
    ],
)
def test_a_broken_gate_json_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GateConfig.from_json(text)


def test_a_missing_or_mismatched_gate_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"DOCBOT_GATE_MODEL=.*no gate.json.*train-gate"):
        load_gate(tmp_path, PACKAGED)
    (tmp_path / GATE_FILE).write_text(GateConfig(0.6, 0.5, "other-model").to_json())
    with pytest.raises(ConfigError, match="trained with embedding model 'other-model'"):
        load_gate(tmp_path, PACKAGED)
    (tmp_path / GATE_FILE).write_text(GateConfig(0.6, 0.5, PACKAGED).to_json())
    with pytest.raises(ConfigError, match="the model does not load"):
        load_gate(tmp_path, PACKAGED)  # gate.json without weights


# ---------------------------------------------------------------- training and scoring

PAIRS = [
    Pair("how do i install widgetron", "Install. Requirements. Run pip install widgetron.", 1.0),
    Pair("how do i restore a backup", "Backup. Restore. Run widgetron restore FILE.", 1.0),
    Pair("is there a mobile app", "Install. Requirements. Run pip install widgetron.", 0.0),
    Pair("who won the world cup", "Backup. Restore. Run widgetron restore FILE.", 0.0),
]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cross_encoder(tmp_path_factory.mktemp("tiny-cross-encoder"))


def trained(base: Path, out: Path, weight: float = 0.5) -> Path:
    train(PAIRS, str(base), out, epochs=1, batch_size=2, device="cpu", progress=lambda _: None)
    (out / GATE_FILE).write_text(GateConfig(0.6, 0.5, PACKAGED, weight=weight).to_json())
    return out


def test_a_trained_model_scores_each_passage_and_repeats(tiny_base: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    train(PAIRS, str(tiny_base), tmp_path / "a", epochs=2, batch_size=2, progress=lines.append)
    assert lines[-1].startswith("train-gate: step 4/4, loss ")
    gates = [load_gate(trained(tiny_base, tmp_path / name), PACKAGED) for name in ("b", "c")]
    texts = [PAIRS[0].passage, PAIRS[1].passage]
    first, second = (g.probabilities("how do i install widgetron", texts) for g in gates)
    assert len(first) == 2 and all(0.0 < p < 1.0 for p in first)
    assert first == pytest.approx(second)  # same seed, same model
    assert gates[0].probabilities("q", []) == []


def test_another_seed_trains_another_model(tiny_base: Path, tmp_path: Path) -> None:
    texts = [PAIRS[0].passage, PAIRS[1].passage]
    probabilities = []
    for seed in (0, 1):
        out = tmp_path / str(seed)
        train(PAIRS, str(tiny_base), out, epochs=1, batch_size=2, seed=seed, progress=print)
        (out / GATE_FILE).write_text(GateConfig(0.6, 0.5, PACKAGED).to_json())
        probabilities.append(load_gate(out, PACKAGED).probabilities("install widgetron", texts))
    assert probabilities[0] != pytest.approx(probabilities[1])


def test_the_gate_adds_its_weight_times_the_best_probability(
    tiny_base: Path, tmp_path: Path
) -> None:
    gate = load_gate(trained(tiny_base, tmp_path / "g", weight=0.4), PACKAGED)
    hits = [FakeHit(BASE + "a/"), FakeHit(BASE + "b/"), FakeHit(BASE + "c/"), FakeHit(BASE + "d/")]
    gate.judge("how do i install widgetron", hits)
    # the top two sections: a near miss gets no third chance to seem answered
    assert [h.answer_probability is not None for h in hits] == [True, True, False, False]
    best = max(h.answer_probability for h in hits[:3] if h.answer_probability is not None)
    assert gate.bonus(hits) == pytest.approx(0.4 * best)
    assert gate.bonus([FakeHit(BASE)]) == 0.0


# ---------------------------------------------------------------- on ONNX Runtime

MIXED = ["short", PROBE_PASSAGE, "word " * 300]  # padded, and one cut to the window


def test_the_onnx_graph_gives_the_torch_logits(tiny_base: Path, tmp_path: Path) -> None:
    out = trained(tiny_base, tmp_path / "g")
    for max_length in (32, MAX_LENGTH):
        torch_scorer = TorchScorer(*load_model(out), max_length)
        onnx_scorer = OnnxScorer(out, max_length)
        for question in (PROBE_QUESTION, "why " * 50):  # the second longer than 32 tokens
            assert onnx_scorer(question, MIXED) == pytest.approx(
                torch_scorer(question, MIXED), abs=1e-5
            )


def test_a_question_too_long_for_the_window_cuts_both_texts(tiny_base: Path) -> None:
    """A pasted log longer than the window alone: no crash, the question is cut too."""
    model, tokenizer = load_model(tiny_base)
    batch = encode_pairs(tokenizer, ["why " * 50], ["the passage"], 32, "cpu")
    assert batch["input_ids"].shape == (1, 32)
    assert int(batch["token_type_ids"].sum()) > 0  # the passage is still read


def with_probe(gate_dir: Path, logit: float) -> Path:
    config = GateConfig.from_json((gate_dir / GATE_FILE).read_text())
    (gate_dir / GATE_FILE).write_text(replace(config, probe_logit=logit).to_json())
    return gate_dir


def test_a_gate_that_gives_its_probe_logit_runs_on_onnx_runtime(
    tiny_base: Path, tmp_path: Path
) -> None:
    gate_dir = trained(tiny_base, tmp_path / "g")
    torch_gate = load_gate(gate_dir, PACKAGED)
    assert isinstance(torch_gate.scorer, TorchScorer)  # no probe recorded: torch serves it
    with_probe(gate_dir, probe_logit(torch_gate.scorer))
    onnx_gate = load_gate(gate_dir, PACKAGED)
    assert isinstance(onnx_gate.scorer, OnnxScorer)
    question = "how do i install widgetron"
    assert onnx_gate.probabilities(question, MIXED) == pytest.approx(
        torch_gate.probabilities(question, MIXED), abs=1e-6
    )


def test_a_graph_that_misses_the_probe_leaves_the_model_to_torch(
    tiny_base: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gate_dir = trained(tiny_base, tmp_path / "g")
    torch_logit = probe_logit(load_gate(gate_dir, PACKAGED).scorer)
    with_probe(gate_dir, torch_logit + 10 * MAX_PROBE_DIFF)
    assert isinstance(load_gate(gate_dir, PACKAGED).scorer, TorchScorer)
    assert "probe logit differs" in caplog.text


def test_a_model_the_graph_does_not_cover_is_left_to_torch(tiny_base: Path, tmp_path: Path) -> None:
    gate_dir = trained(tiny_base, tmp_path / "g")
    torch_logit = probe_logit(load_gate(gate_dir, PACKAGED).scorer)
    config = json.loads((gate_dir / "config.json").read_text())
    (gate_dir / "config.json").write_text(json.dumps({**config, "hidden_act": "relu"}))
    with pytest.raises(ValueError, match="plain BERT classifier"):
        OnnxScorer(gate_dir, MAX_LENGTH)
    assert isinstance(load_gate(with_probe(gate_dir, torch_logit), PACKAGED).scorer, TorchScorer)


def test_the_probability_of_any_logit_is_a_probability() -> None:
    gate = TrainedGate(lambda q, passages: [-1000.0, 0.0, 1000.0], GateConfig(0.6, 0.5, PACKAGED))
    assert gate.probabilities("q", ["a", "b", "c"]) == [0.0, 0.5, 1.0]


# ---------------------------------------------------------------- in the retriever


def test_a_configured_gate_lifts_the_relevance_and_brings_its_thresholds(
    tiny_base: Path, tmp_path: Path, built_settings: Settings
) -> None:
    gate_dir = trained(tiny_base, tmp_path / "gate")
    plain = Retriever(built_settings)
    gated = Retriever(replace(built_settings, gate_model=str(gate_dir)))
    assert (gated.min_relevance, gated.llm_min_relevance) == (0.6, 0.5)
    question = "how do I restore a backup?"
    hits, gated_hits = plain.search(question), gated.search(question)
    assert [h.url for h in hits] == [h.url for h in gated_hits]  # ranking is untouched
    probabilities = [h.answer_probability for h in gated_hits[:2]]
    assert all(p is not None for p in probabilities)
    assert gated.relevance(gated_hits) == pytest.approx(
        plain.relevance(hits) + 0.5 * max(p for p in probabilities if p is not None)
    )


def test_a_model_retrained_in_place_serves_from_the_next_question(
    tiny_base: Path, tmp_path: Path, built_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    gate_dir = trained(tiny_base, tmp_path / "gate")
    retriever = Retriever(replace(built_settings, gate_model=str(gate_dir)))
    first = retriever.trained_gate
    assert retriever.refresh() and retriever.trained_gate is first  # unchanged: not reloaded
    # the CML job swaps a new folder in where the old one was (rag.gate_job.swap_in)
    new = trained(tiny_base, tmp_path / "gate.training", weight=1.0)
    (new / GATE_FILE).write_text(GateConfig(0.7, 0.55, PACKAGED, weight=1.0).to_json())
    gate_dir.rename(tmp_path / "gate.previous")
    assert retriever.refresh()  # mid-swap: no model in the folder, the loaded one serves
    assert retriever.trained_gate is first
    new.rename(gate_dir)
    retriever.search("how do I restore a backup?")
    assert retriever.trained_gate is not first and retriever.trained_gate.config.weight == 1.0
    assert (retriever.min_relevance, retriever.llm_min_relevance) == (0.7, 0.55)
    # a model that does not load is reported once and the loaded one keeps serving
    second = retriever.trained_gate
    (gate_dir / GATE_FILE).write_text("{not json")
    with caplog.at_level("WARNING", logger="rag.retrieve"):
        retriever.refresh()
        retriever.refresh()
    assert retriever.trained_gate is second and retriever.min_relevance == 0.7
    assert sum("does not load" in r.getMessage() for r in caplog.records) == 1


def test_an_operators_own_threshold_still_wins(
    tiny_base: Path, tmp_path: Path, built_settings: Settings
) -> None:
    gate_dir = trained(tiny_base, tmp_path / "gate")
    retriever = Retriever(replace(built_settings, gate_model=str(gate_dir), min_relevance=0.7))
    assert (retriever.min_relevance, retriever.llm_min_relevance) == (0.7, 0.7)


# ---------------------------------------------------------------- `docbot train-gate`


@pytest.fixture
def train_gate(
    docbot_on_test_index: Callable[..., tuple[int, str, str]],
) -> Callable[..., tuple[int, str, str]]:
    """`docbot train-gate ARGS` against the shared test index: (exit code, stdout, stderr)."""
    return lambda *args: docbot_on_test_index("train-gate", *args)


@pytest.fixture
def train_tiny(
    tmp_path: Path, tiny_base: Path, train_gate: Callable[..., tuple[int, str, str]]
) -> Callable[..., tuple[int, str, str]]:
    """`docbot train-gate ARGS` training the tiny model for one epoch into tmp_path/gate."""
    tiny = ("--out", str(tmp_path / "gate"), "--base-model", str(tiny_base), "--epochs", "1")
    return lambda *args: train_gate(*args, *tiny)


def test_train_gate_writes_a_model_the_bot_loads(
    tmp_path: Path, train_tiny: Callable[..., tuple[int, str, str]]
) -> None:
    out_dir = tmp_path / "gate"
    code, out, err = train_tiny(
        str(write_question_set(tmp_path / "train.jsonl", TRAIN_ROWS)),
        "--fit-on",
        str(write_question_set(tmp_path / "fit.jsonl", FIT_ROWS)),
        "--scores",
        str(tmp_path / "scores.jsonl"),
    )
    assert code == 0, err
    fitted_ids = [json.loads(line)["id"] for line in (tmp_path / "scores.jsonl").open()]
    assert fitted_ids == [row[0] for row in FIT_ROWS]  # the questions the thresholds fit on
    assert "train-gate: 3/3 questions retrieved" in err and "pairs (" in err
    assert out.splitlines()[-1] == f"DOCBOT_GATE_MODEL={out_dir}"
    config = GateConfig.from_json((out_dir / GATE_FILE).read_text())
    assert config.trained_on == [str(tmp_path / "train.jsonl")]
    assert config.fitted_on == [str(tmp_path / "fit.jsonl")]
    assert config.pairs >= 3 and config.llm_min_relevance <= config.min_relevance
    assert config.probe_logit is not None  # so the bot serves it on ONNX Runtime
    gate = load_gate(out_dir, PACKAGED)
    assert gate.config == config and isinstance(gate.scorer, OnnxScorer)


@pytest.mark.parametrize(
    ("train_rows", "same", "message"),
    [
        (TRAIN_ROWS, True, "in both the training and the fitting sets"),
        (TRAIN_ROWS[:2], False, "need answerable and unanswerable questions"),
    ],
)
def test_train_gate_refuses_sets_it_cannot_learn_or_fit_from(
    tmp_path: Path,
    train_gate: Callable[..., tuple[int, str, str]],
    train_rows: list[tuple[str, str, list[str]]],
    same: bool,
    message: str,
) -> None:
    training = write_question_set(tmp_path / "train.jsonl", train_rows)
    fitting = training if same else write_question_set(tmp_path / "fit.jsonl", FIT_ROWS)
    code, _, err = train_gate(str(training), "--fit-on", str(fitting))
    assert code == 2 and message in err and "Traceback" not in err


def test_train_gate_names_a_base_model_it_cannot_load(
    tmp_path: Path, train_gate: Callable[..., tuple[int, str, str]]
) -> None:
    code, _, err = train_gate(
        str(write_question_set(tmp_path / "train.jsonl", TRAIN_ROWS)),
        "--fit-on",
        str(write_question_set(tmp_path / "fit.jsonl", FIT_ROWS)),
        "--base-model",
        str(tmp_path / "no-such-model"),
    )
    assert code == 2 and "error: --base-model " in err and "Traceback" not in err


MORE_ROWS = [
    ("a5", "how do I restore widgetron from a backup file", [BASE + "backup/"]),
    ("u3", "can I order pizza through widgetron", []),
]


def test_train_gate_fits_out_of_fold_without_spending_a_set_on_fitting(
    tmp_path: Path, train_tiny: Callable[..., tuple[int, str, str]]
) -> None:
    out_dir = tmp_path / "gate"
    sets = [
        write_question_set(tmp_path / f"{name}.jsonl", rows)
        for name, rows in (("one", TRAIN_ROWS), ("two", FIT_ROWS), ("three", MORE_ROWS))
    ]
    code, out, err = train_tiny(*map(str, sets), "--folds", "3", "--weight", "auto")
    assert code == 0, err
    kept = fold_pairs(err)
    total = int(err.split(" pairs (")[0].rsplit(" ", 1)[-1])
    assert len(kept) == 3 and sum(kept) == 2 * total  # each set is left out of one fold
    assert "8 questions out of 3 folds (5 answerable, 3 unanswerable)" in out
    assert [line.split(":")[0] for line in out.splitlines() if "  weight " in line] == [
        f"  weight {w}" for w in WEIGHTS
    ]
    config = GateConfig.from_json((out_dir / GATE_FILE).read_text())
    assert config.weight in WEIGHTS
    assert (config.folds, config.fitted_on) == (3, [])
    assert config.trained_on == [str(s) for s in sets]
    assert load_gate(out_dir, PACKAGED).config == config


def fold_pairs(err: str) -> list[int]:
    """The pair counts the fold lines name (each fold trains on the other sets' pairs)."""
    return [
        int(line.split("training on ")[1].split()[0])
        for line in err.splitlines()
        if line.startswith("train-gate: fold ")
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--folds", "1"], "--folds must be at least 2"),
        (["--folds", "2", "--weight", "heavy"], "'heavy' is neither a number nor auto"),
        (["--folds", "2", "--weight", "-1"], "--weight: must be >= 0"),
        (["--folds", "3"], "--folds 3 needs at least 3 training sets"),
    ],
)
def test_train_gate_refuses_folds_it_cannot_make(
    tmp_path: Path,
    train_gate: Callable[..., tuple[int, str, str]],
    extra: list[str],
    message: str,
) -> None:
    sets = [
        write_question_set(tmp_path / f"{name}.jsonl", rows)
        for name, rows in (("one", TRAIN_ROWS), ("two", FIT_ROWS))
    ]
    code, _, err = train_gate(*map(str, sets), *extra)
    assert code == 2 and message in err and "Traceback" not in err


def test_train_gate_refuses_a_fold_whose_other_sets_teach_one_kind(
    tmp_path: Path, train_gate: Callable[..., tuple[int, str, str]]
) -> None:
    answerable = write_question_set(tmp_path / "a.jsonl", TRAIN_ROWS[:2])
    mixed = write_question_set(tmp_path / "m.jsonl", FIT_ROWS)
    code, _, err = train_gate(str(answerable), str(mixed), "--folds", "2")
    assert code == 2 and "fold 2 of 2: the sets outside it need answerable" in err


def test_train_gate_fits_out_of_two_folds_unless_told_otherwise(
    tmp_path: Path,
    train_gate: Callable[..., tuple[int, str, str]],
    train_tiny: Callable[..., tuple[int, str, str]],
) -> None:
    one, two = two_sets(tmp_path)
    code, _, err = train_gate(str(one))
    assert code == 2 and "--folds 2 needs at least 2 training sets, got 1 (or name" in err
    code, _, err = train_tiny(str(one), str(two))
    assert code == 0, err
    assert GateConfig.from_json((tmp_path / "gate" / GATE_FILE).read_text()).folds == 2


def two_sets(tmp_path: Path) -> list[Path]:
    """Two question sets, each holding answerable and unanswerable questions."""
    return [
        write_question_set(tmp_path / "one.jsonl", TRAIN_ROWS),
        write_question_set(tmp_path / "two.jsonl", [*FIT_ROWS, *MORE_ROWS]),
    ]


def test_train_gate_estimates_out_of_fold_declines_without_writing_a_model(
    tmp_path: Path, train_tiny: Callable[..., tuple[int, str, str]]
) -> None:
    sets = two_sets(tmp_path)
    scores = tmp_path / "scores.jsonl"
    code, out, err = train_tiny(
        *map(str, sets), "--estimate", "--weight", "auto", "--scores", str(scores)
    )
    assert code == 0, err
    assert "8 questions out of fold (5 answerable, 3 unanswerable); no model written" in out
    assert sum("  weight " in line for line in out.splitlines()) == len(WEIGHTS)
    assert not (tmp_path / "gate").exists()
    rows = [json.loads(line) for line in scores.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(
        r[0] for r in [*TRAIN_ROWS, *FIT_ROWS, *MORE_ROWS]
    )
    assert set(rows[0]) == {"id", "set", "answerable", "relevance", "probability"}
    assert {r["set"] for r in rows} == {str(path) for path in sets}
    assert sum(r["answerable"] for r in rows) == 5 and all(0 <= r["probability"] <= 1 for r in rows)
    code, _, err = train_tiny(str(sets[0]), "--fit-on", str(sets[1]), "--estimate")
    assert code == 2 and "use it without --fit-on" in err


def test_train_gate_records_how_much_the_model_reads_and_its_seed(
    tmp_path: Path, train_tiny: Callable[..., tuple[int, str, str]]
) -> None:
    sets = two_sets(tmp_path)
    code, _, err = train_tiny(*map(str, sets), "--max-length", "64", "--seed", "7")
    assert code == 0, err
    config = GateConfig.from_json((tmp_path / "gate" / GATE_FILE).read_text())
    assert config.max_length == 64 and config.seed == 7
    assert load_gate(tmp_path / "gate", PACKAGED).config == config
    code, _, err = train_tiny(*map(str, sets), "--max-length", "8")
    assert code == 2 and "--max-length >= 32" in err
