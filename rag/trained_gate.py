"""A decline model trained on labelled questions (`docbot train-gate`, `DOCBOT_GATE_MODEL`).

The decline score (`rag.retrieve.Retriever.relevance`) reads question and
sections apart: a cosine and which of the question's words the sections hold.
A near miss in the docs' own words ("is there a global search bar in the
dashboard?") passes it. A cross-encoder reads question and section together;
none can be downloaded here, so docbot trains one from what it has: the
embedding model's own weights with a one-logit head, fine-tuned on an
operator's labelled question sets (the `docbot eval` format) as pairs of
(question, retrieved section) -> does this section answer it.

With a gate model configured, the decline score becomes the relevance plus
`weight` x the highest answer probability among the top `passages` sections,
and the two thresholds are the ones `docbot train-gate` fitted on scores the
model did not train on (written to `gate.json` beside the weights): every
training set scored out of fold (`--folds K`, the default with K = 2: K models,
each trained without a K-th of the sets, score the sets left out; the model
kept is then trained on all of them), so no labelled question is spent on
fitting alone, or other sets (`--fit-on`).

On CPU the bot serves the model as one ONNX Runtime graph built from its weights
(`OnnxScorer`), once it gives the logit the trained model gave on a probe pair
(`probe_logit` in gate.json): no torch import at start-up; torch serves it
otherwise (on a GPU, or a model trained before the probe was recorded).

Off by default: each question costs one model call over 2 sections (about
50 ms on 2 CPU cores), and training is long on CPU (2 folds over 2,957
questions: 48 minutes on 2 cores). Measured in docs/benchmarks.md ("Third" to
"Fifth landing of 2026-12-06").
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.config import ConfigError
from rag.embeddings import resolve_device
from rag.evaluate import page_of

log = logging.getLogger(__name__)
T = TypeVar("T")

GATE_FILE = "gate.json"
DEFAULT_DIR = "gate"  # under DATA_DIR, where `docbot train-gate` writes without --out
FORMAT = 1
# Sections a training question's pairs come from: the answer is almost always in the first three.
PASSAGES = 3
# Sections the model judges per question when serving (`GateConfig.passages`). Two, not three:
# a near miss gets one chance fewer to meet a section that seems to answer it, and the top two
# hold the answer nearly as often: as many declines out of fold on 55 sets, 5 more of 36
# unanswerable on held-out 37 and 38 (none answerable), for a third less model time
# (docs/benchmarks.md, "First landing of 2026-12-07").
JUDGED = 2
MAX_LENGTH = 160  # tokens of question + section the model reads
DEFAULT_WEIGHT = 0.5  # share of the probability added to the relevance
EPOCHS = 2
BATCH_SIZE = 16
LEARNING_RATE = 3e-5
LOG_EVERY = 25  # training steps between progress lines
# Folds when no --fit-on sets are named: on the Kubeflow sets 2 folds fitted thresholds that
# held on three sets written later (docs/benchmarks.md, "Fourth landing of 2026-12-06").
FOLDS = 2


class HitLike(Protocol):
    page_url: str
    title: str
    section: str
    text: str
    answer_probability: float | None


@dataclass(frozen=True)
class Pair:
    question: str
    passage: str
    label: float  # 1.0: this section answers the question


@dataclass(frozen=True)
class GateConfig:
    """What `gate.json` holds: how to combine the model with the relevance, and its record."""

    min_relevance: float
    llm_min_relevance: float
    embedding_model: str  # the thresholds are on this model's cosine scale
    weight: float = DEFAULT_WEIGHT
    passages: int = JUDGED
    max_length: int = MAX_LENGTH
    base_model: str = ""
    trained_on: list[str] = field(default_factory=list)
    fitted_on: list[str] = field(default_factory=list)
    folds: int = 0  # > 0: thresholds fitted out of fold on the training sets (`--folds`)
    pairs: int = 0
    positives: int = 0
    epochs: int = EPOCHS
    seed: int = 0
    # The trained model's logit for (PROBE_QUESTION, PROBE_PASSAGE): another runtime
    # must give it too before it serves the model (`load_gate`). None: not recorded.
    probe_logit: float | None = None
    format: int = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> GateConfig:
        """Parse and check `gate.json`; a ValueError says what is wrong."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        if raw.get("format") != FORMAT:
            raise ValueError(f"format {raw.get('format')!r}, this docbot reads format {FORMAT}")
        known = set(cls.__dataclass_fields__)
        try:
            config = cls(**{k: v for k, v in raw.items() if k in known})
        except TypeError as exc:  # a required field missing
            raise ValueError(str(exc).replace("__init__() ", "")) from None
        for name in ("min_relevance", "llm_min_relevance", "weight"):
            value = getattr(config, name)
            # NaN would make every comparison with the score false: no decline, or all
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{name} must be a number")
        if not isinstance(config.probe_logit, int | float | None):
            raise ValueError("probe_logit must be a number")
        # checked before they are compared: "2" would raise a TypeError (a traceback at
        # start, a failed question on reload), 2.5 would pass and fail every question later
        for name in ("passages", "max_length"):
            value = getattr(config, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} must be a whole number")
        if not isinstance(config.trained_on, list) or not isinstance(config.fitted_on, list):
            raise ValueError("trained_on and fitted_on must be lists")  # /healthz counts them
        if config.weight < 0 or config.passages < 1 or config.max_length < 16:
            raise ValueError("weight must be >= 0, passages >= 1 and max_length >= 16")
        return config


def passage(title: str, section: str, text: str) -> str:
    """What the model reads of a section, in training and in use alike."""
    head = ". ".join(part for part in (title, section) if part)
    return f"{head}. {text}" if head else text


def hit_passage(hit: HitLike) -> str:
    return passage(hit.title, hit.section, hit.text)


def training_pairs(
    question: str, expected_urls: Sequence[str], hits: Sequence[HitLike]
) -> list[Pair]:
    """Labelled pairs from one question and its retrieved sections (best first).

    An answerable question: each of the top `PASSAGES` sections on an expected page is a
    positive (two at most), and the first on another page a negative. An unanswerable
    one (no expected pages): its top two sections are negatives - what the gate must
    learn is exactly that the best match of a near miss does not answer it."""
    top = list(hits[:PASSAGES])
    if not expected_urls:
        return [Pair(question, hit_passage(h), 0.0) for h in top[:2]]
    # pages compared as `docbot eval` compares them: `.../page`, `.../page/` and
    # `.../page/#anchor` are one page (drafts write `page_of` URLs, the index may not)
    expected = {page_of(url) for url in expected_urls}
    positives = [h for h in top if page_of(h.page_url) in expected][:2]
    negatives = [h for h in top if page_of(h.page_url) not in expected][:1]
    return [Pair(question, hit_passage(h), 1.0) for h in positives] + [
        Pair(question, hit_passage(h), 0.0) for h in negatives
    ]


# How pairs are cut to the model's window, in order: the first that can fit them. Only the
# passage, or (a question longer than the window alone) the longer text token by token.
TRUNCATIONS = ("only_second", "longest_first")


def cut_to_fit(encode: Callable[[str], T]) -> T:
    """`encode(truncation)` with the first of `TRUNCATIONS` that fits the pairs."""
    for truncation in TRUNCATIONS[:-1]:
        try:
            return encode(truncation)
        except Exception:  # `tokenizers` raises a bare Exception for a question too long
            pass
    return encode(TRUNCATIONS[-1])


def encode_pairs(
    tokenizer: Any, questions: list[str], passages: list[str], max_length: int, device: str
) -> Any:
    """How the model reads (question, passage) pairs, in training and in use alike: the
    question whole, the passage cut to fit `max_length` tokens - or, for a question too
    long for that (a pasted log), both cut (`TRUNCATIONS`)."""
    batch = cut_to_fit(
        lambda truncation: tokenizer(
            questions,
            passages,
            truncation=truncation,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
    )
    return batch.to(device)


# (question, passages) -> the model's logit for each passage
Scorer = Callable[[str, Sequence[str]], list[float]]

# One pair every trained model scores: its logit goes into gate.json (`probe_logit`), and
# a runtime other than the one it trained in serves the model only if it gives the same.
PROBE_QUESTION = "how do i get my pipeline runs back after the cluster was rebuilt?"
PROBE_PASSAGE = passage(
    "Backup and restore",
    "Restoring pipeline runs",
    "Restore the metadata database from its last backup before you start the pipeline "
    "service again; runs that finished after the backup are not restored.",
)
MAX_PROBE_DIFF = 1e-3  # logits; float32 graphs agree to ~1e-5
# ONNX Runtime threads for one question's sections; 0: the runtime's choice (the physical
# cores), as torch does. One thread took 1.8 times as long (docs/benchmarks.md).
ONNX_THREADS = 0


class TorchScorer:
    """The model in torch: while training, on a GPU, and where the ONNX graph cannot serve."""

    name = "torch"

    def __init__(self, model: Any, tokenizer: Any, max_length: int, device: str = "cpu"):
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.device = device
        self._lock = threading.Lock()  # one forward pass at a time: torch is not re-entrant

    def __call__(self, question: str, passages: Sequence[str]) -> list[float]:
        import torch

        with self._lock, torch.no_grad():
            batch = encode_pairs(
                self.tokenizer,
                [question] * len(passages),
                list(passages),
                self.max_length,
                self.device,
            )
            return [float(x) for x in self.model(**batch).logits.reshape(-1).tolist()]


class OnnxScorer:
    """The same model as one ONNX Runtime graph (`rag.onnx_encoder.bert_graph` with its
    classifier head), built from the saved weights: no torch import when the bot starts
    (1.6 s to load instead of 3.7 s on 2 cores), and a question's sections scored a little
    faster (71 ms against 84; docs/benchmarks.md). Plain BERT classifiers only
    (`supports`); the pairs are tokenized as transformers does (`encode_pairs`), by the
    same `tokenizers` library."""

    name = "ONNX Runtime"

    def __init__(self, directory: Path, max_length: int, threads: int = ONNX_THREADS):
        from rag.numpy_encoder import batch_tokenizer
        from rag.onnx_encoder import cpu_session

        graph, config = self.graph(directory)
        self.session = cpu_session(graph, threads)
        # one tokenizer per truncation: setting it per call would race between questions
        self.tokenizers = {
            truncation: batch_tokenizer(
                directory / "tokenizer.json",
                max_length,
                int(config.get("pad_token_id") or 0),
                truncation=truncation,
            )
            for truncation in TRUNCATIONS
        }

    @classmethod
    def graph(cls, directory: Path) -> tuple[bytes, dict[str, Any]]:
        """The serialized graph of the model in `directory`, and its config.json."""
        from rag.numpy_encoder import load_weights
        from rag.onnx_encoder import bert_graph

        config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        if not cls.supports(config):
            raise ValueError("not a plain BERT classifier with one logit")
        graph = bert_graph(
            load_weights(directory / "model.safetensors"),
            layers=int(config["num_hidden_layers"]),
            heads=int(config["num_attention_heads"]),
            hidden=int(config["hidden_size"]),
            eps=float(config.get("layer_norm_eps", 1e-12)),
            head="classifier",
        )
        return graph.SerializeToString(), config

    @staticmethod
    def supports(config: dict[str, Any]) -> bool:
        return (
            config.get("model_type") == "bert"
            and config.get("architectures") == ["BertForSequenceClassification"]
            and len(config.get("id2label") or {"0": ""}) == 1
            and config.get("hidden_act") == "gelu"
            and config.get("position_embedding_type", "absolute") == "absolute"
        )

    def __call__(self, question: str, passages: Sequence[str]) -> list[float]:
        from rag.numpy_encoder import model_inputs
        from rag.onnx_encoder import graph_feed

        pairs = [(question, p) for p in passages]
        inputs = cut_to_fit(lambda t: model_inputs(self.tokenizers[t].encode_batch(pairs)))
        return [float(x) for x in self.session.run(["logit"], graph_feed(*inputs))[0]]


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # exp(-x) would overflow for a very negative logit
    return e / (1.0 + e)


def probe_logit(scorer: Scorer) -> float:
    return scorer(PROBE_QUESTION, [PROBE_PASSAGE])[0]


class TrainedGate:
    """A trained decline model and its `gate.json`, ready to score sections."""

    def __init__(self, scorer: Scorer, config: GateConfig):
        self.scorer = scorer
        self.config = config

    def probabilities(self, question: str, passages: Sequence[str]) -> list[float]:
        """P(the passage answers the question), for each passage."""
        if not passages:
            return []
        return [sigmoid(x) for x in self.scorer(question, passages)]

    def judge(self, question: str, hits: Sequence[HitLike]) -> None:
        """Set `answer_probability` on the first `passages` hits."""
        top = list(hits[: self.config.passages])
        for hit, p in zip(
            top, self.probabilities(question, [hit_passage(h) for h in top]), strict=True
        ):
            hit.answer_probability = p

    def bonus(self, hits: Sequence[HitLike]) -> float:
        """What the relevance gains: `weight` x the best probability among the hits (0 if none)."""
        judged = [h.answer_probability for h in hits if h.answer_probability is not None]
        return self.config.weight * max(judged) if judged else 0.0


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """transformers' loading report and progress bars off: a new head "newly initialized"
    is what training expects, and a bar per start-up or save only clutters the logs."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def load_model(directory: Path, device: str = "cpu") -> tuple[Any, Any]:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    with _quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(directory), local_files_only=True
        )
    return model.to(device).eval(), tokenizer


def gate_dir(settings: Any) -> Path:
    """Where the decline model is served from (DOCBOT_GATE_MODEL), else where `docbot
    train-gate` writes it by default (DATA_DIR/gate)."""
    if settings.gate_model:
        return Path(settings.gate_model).expanduser()
    return settings.data_dir / DEFAULT_DIR


def load_gate(directory: str | Path, embedding_model: str, device: str = "auto") -> TrainedGate:
    """The gate model in `directory` (`DOCBOT_GATE_MODEL`); a ConfigError says what is wrong."""
    path = Path(directory).expanduser()
    where = f"DOCBOT_GATE_MODEL={path}"
    try:
        config = GateConfig.from_json((path / GATE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{where}: no {GATE_FILE} there (make one with `docbot train-gate`)"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}: {GATE_FILE}: {exc}") from None
    if config.embedding_model != embedding_model:
        raise ConfigError(
            f"{where}: trained with embedding model {config.embedding_model!r}, but "
            f"DOCBOT_EMBEDDING_MODEL is {embedding_model!r}; its thresholds do not apply "
            "(train it again with `docbot train-gate`)"
        )
    resolved = resolve_device(device)
    # on CPU the ONNX graph, where it gives the trained model's probe logit; else torch
    scorer: Scorer | None = _onnx_scorer(path, config) if resolved == "cpu" else None
    if scorer is None:
        try:
            model, tokenizer = load_model(path, resolved)
        except Exception as exc:  # missing weights, a tokenizer that does not load, ...
            raise ConfigError(f"{where}: the model does not load ({type(exc).__name__})") from None
        scorer = TorchScorer(model, tokenizer, config.max_length, resolved)
    log.info(
        "decline model from %s on %s: weight %.2f, thresholds %.3f / %.3f",
        path,
        getattr(scorer, "name", "torch"),
        config.weight,
        config.min_relevance,
        config.llm_min_relevance,
    )
    return TrainedGate(scorer, config)


def _onnx_scorer(path: Path, config: GateConfig) -> OnnxScorer | None:
    """The model on ONNX Runtime if it gives the logit recorded at training; None (and
    why, in the log) if the model has none recorded, or the graph cannot serve it."""
    if config.probe_logit is None:
        log.info("decline model: torch (no probe_logit in %s: train it again for ONNX)", GATE_FILE)
        return None
    try:
        scorer = OnnxScorer(path, config.max_length)
        difference = abs(probe_logit(scorer) - config.probe_logit)
    # onnx or onnxruntime missing or broken, a model the graph does not cover: torch serves
    except Exception as exc:
        log.info("decline model: torch (ONNX Runtime not used: %s: %s)", type(exc).__name__, exc)
        return None
    if not difference <= MAX_PROBE_DIFF:
        log.warning(
            "decline model: torch (the ONNX graph's probe logit differs by %.1e)", difference
        )
        return None
    return scorer


def train(
    pairs: Sequence[Pair],
    base_model: str,
    out: Path | None,
    *,
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    learning_rate: float = LEARNING_RATE,
    max_length: int = MAX_LENGTH,
    seed: int = 0,
    device: str = "auto",
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> tuple[Any, Any]:
    """Fine-tune `base_model` (a BERT-like encoder; its pooling is not used) with a
    one-logit head on `pairs`, save it to `out` (unless None: a fold's model is only
    scored), and return (model, tokenizer).

    Linear warm-up over the first tenth of the steps, then linear decay; the order
    of the pairs is shuffled each epoch with `seed`, so a run repeats."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(seed)
    order = random.Random(seed)
    resolved = resolve_device(device)
    with _quiet_loading():
        tokenizer = AutoTokenizer.from_pretrained(base_model)
        model = AutoModelForSequenceClassification.from_pretrained(base_model, num_labels=1)
    model.to(resolved).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    per_epoch = (len(pairs) + batch_size - 1) // batch_size
    steps = max(1, epochs * per_epoch)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    data = list(pairs)
    start, step = time.monotonic(), 0
    for _ in range(epochs):
        order.shuffle(data)
        for i in range(0, len(data), batch_size):
            batch = data[i : i + batch_size]
            enc = encode_pairs(
                tokenizer,
                [p.question for p in batch],
                [p.passage for p in batch],
                max_length,
                resolved,
            )
            logits = model(**enc).logits.reshape(-1)
            labels = torch.tensor([p.label for p in batch], device=resolved)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            if step % LOG_EVERY == 0 or step == steps:
                progress(
                    f"train-gate: step {step}/{steps}, loss {loss.item():.3f}, "
                    f"{time.monotonic() - start:.0f} s"
                )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        with _quiet_loading():  # no "Writing model shards" bar
            model.save_pretrained(str(out))
            tokenizer.save_pretrained(str(out))
    return model.eval(), tokenizer


def folds_of(sets: Sequence[Path], k: int) -> list[list[Path]]:
    """`k` groups of question sets, dealt round-robin in the order given.

    Whole sets, never questions: the questions of one set were written together and
    resemble each other, so a model scored on a set it partly trained on would look
    better than it will on new questions."""
    if k < 2:
        raise ValueError("--folds must be at least 2")
    if len(sets) < k:
        raise ValueError(
            f"--folds {k} needs at least {k} training sets, got {len(sets)} "
            "(or name other sets to fit on with --fit-on)"
        )
    return [list(sets[i::k]) for i in range(k)]


@dataclass(frozen=True)
class Scored:
    """A fitting question's two decline signals, kept apart so the weight can be chosen."""

    answerable: bool
    relevance: float  # the decline score without the model
    probability: float  # the model's best answer probability among the judged sections
    id: str = ""  # the question's, from its set
    set: str = ""  # the set's path (ids are unique within a set only)


# Weights `--weight auto` tries: the share of the model's probability added to the relevance.
WEIGHTS = (0.25, 0.5, 1.0, 2.0)


def combined(scored: Sequence[Scored], weight: float) -> tuple[list[float], list[float]]:
    """(answerable, unanswerable) decline scores at `weight`."""
    answerable = [s.relevance + weight * s.probability for s in scored if s.answerable]
    unanswerable = [s.relevance + weight * s.probability for s in scored if not s.answerable]
    return answerable, unanswerable


def choose_weight(
    scored: Sequence[Scored],
    weights: Sequence[float],
    max_declined: float,
    reader_max_declined: float,
) -> tuple[float, Any]:
    """The weight whose fitted thresholds decline the most unanswerable questions (both
    gates summed; ties go to the fewest answerable declines, then to the weight listed
    first), and its `rag.calibrate.Fit`. A ValueError when the scores cannot be fitted."""
    from rag.calibrate import Fit, fit_both

    best: tuple[tuple[int, int], float, Any] | None = None
    for weight in weights:
        answerable, unanswerable = combined(scored, weight)
        fit = Fit(
            answerable,
            unanswerable,
            *fit_both(answerable, unanswerable, max_declined, reader_max_declined),
        )
        rank = (
            fit.fitted.unanswerable_declined + fit.reader.unanswerable_declined,
            -(fit.fitted.answerable_declined + fit.reader.answerable_declined),
        )
        if best is None or rank > best[0]:
            best = (rank, weight, fit)
    if best is None:
        raise ValueError("no weight to try")
    return best[1], best[2]


def gate_signals(
    retriever: Any, gate: TrainedGate, sets: Mapping[Path, Sequence[Any]], top_k: int
) -> list[Scored]:
    """Each question of `sets` retrieved as the bot would, with `gate` judging its sections."""
    from rag.calibrate import each_retrieved

    retriever.trained_gate = gate
    questions = [q for qs in sets.values() for q in qs]
    names = [str(path) for path, qs in sets.items() for _ in qs]
    scored: list[Scored] = []
    retrieved = each_retrieved(retriever, questions, top_k, "train-gate", "scored", 200)
    for name, (q, hits) in zip(names, retrieved, strict=True):
        judged = [h.answer_probability for h in hits if h.answer_probability is not None]
        relevance = retriever.relevance(hits) - gate.bonus(hits)
        scored.append(Scored(q.answerable, relevance, max(judged, default=0.0), q.id, name))
    return scored


def weight_arg(text: str) -> float | None:
    """`--weight`: a share >= 0, or "auto" (None): chosen among `WEIGHTS` on the fitting scores."""
    if text == "auto":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor auto") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


# ---------------------------------------------------------------- `docbot train-gate`


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train-gate",
        help="train a decline model on labelled question sets (DOCBOT_GATE_MODEL)",
        description="Fine-tune a cross-encoder that judges whether a retrieved section "
        "answers a question, on question sets in the `docbot eval` format, and fit its "
        "decline thresholds on other sets (--fit-on) or out of fold (--folds). "
        "Needs the live index.",
    )
    p.add_argument("questions", type=Path, nargs="+", help="question sets to train on (JSONL)")
    fit = p.add_mutually_exclusive_group()
    fit.add_argument(
        "--fit-on",
        type=Path,
        nargs="+",
        help="other question sets, to fit the thresholds on (never trained on)",
    )
    fit.add_argument(
        "--folds",
        type=int,
        help="fit the thresholds on every training set instead: K models, each trained "
        f"without a K-th of the sets, score the sets left out (K+1 trainings in all; the "
        f"default, with K={FOLDS}, when --fit-on is not given)",
    )
    p.add_argument("--out", type=Path, help="where to write the model (default: DATA_DIR/gate)")
    p.add_argument(
        "--base-model",
        default="",
        help="encoder to start from (default: the embedding model's own weights)",
    )
    p.add_argument("--epochs", type=int, default=EPOCHS)
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the head's initial weights and the shuffling (default 0): a run repeats; "
        "another seed shows how much a result owes to chance",
    )
    p.add_argument(
        "--max-length",
        type=int,
        default=MAX_LENGTH,
        help=f"tokens of question + section the model reads (default {MAX_LENGTH})",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="only report how the fold models decline the sets left out: no final training, "
        "no model written (about a training's time less)",
    )
    p.add_argument(
        "--weight",
        type=weight_arg,
        default=DEFAULT_WEIGHT,
        help="share of the model's probability added to the relevance (default 0.5), or "
        f"auto: the one of {', '.join(map(str, WEIGHTS))} whose fitted thresholds decline "
        "the most unanswerable fitting questions",
    )
    p.add_argument(
        "--scores",
        type=Path,
        help="also write each fitting question's two signals here (JSONL: id, set, answerable, "
        "relevance, probability), to see which questions the gate gets wrong",
    )
    p.add_argument("--max-declined", type=float, default=0.05)
    p.add_argument("--reader-max-declined", type=float, default=0.02)
    return p


class _BaseModelError(Exception):
    """A base model that does not train (missing, or not an encoder): one error line."""


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _has_both_kinds(questions: Sequence[Any]) -> bool:
    return any(q.answerable for q in questions) and not all(q.answerable for q in questions)


def _print_weights(
    scored: Sequence[Scored], weights: Sequence[float], max_declined: float, reader: float
) -> None:
    for w in weights:
        tried = choose_weight(scored, [w], max_declined, reader)[1]
        print(
            f"  weight {w}: offline {tried.fitted.value:.3f} declines {tried.fitted.rates()}; "
            f"reader {tried.reader.value:.3f} declines {tried.reader.rates()}"
        )


def _write_scores(path: Path | None, scored: Sequence[Scored]) -> None:
    """`--scores`: one JSON line per fitting question (nothing when no path is given)."""
    if path is not None:
        path.write_text("".join(json.dumps(asdict(s)) + "\n" for s in scored), encoding="utf-8")
        print(f"train-gate: {len(scored)} questions' signals written to {path}", file=sys.stderr)


def _report_estimate(
    scored: Sequence[Scored], weights: Sequence[float], max_declined: float, reader: float
) -> int:
    """`--estimate`: the out-of-fold declines at each weight; nothing trained further."""
    answerable = sum(s.answerable for s in scored)
    print(
        f"{len(scored)} questions out of fold ({answerable} answerable, "
        f"{len(scored) - answerable} unanswerable); no model written (--estimate)"
    )
    try:
        _print_weights(scored, weights, max_declined, reader)
    except ValueError as exc:
        return _error(f"the fitting sets: {exc}")
    return 0


def run(args: argparse.Namespace, settings: Any, *, served_as: Path | None = None) -> int:
    """`docbot train-gate`. `served_as`: the folder the model will be served from, when the
    caller trains it elsewhere first (`rag.gate_job` stages it), for the last line to name."""
    from rag.calibrate import ACCELERATE_FROM, decline_table, each_retrieved
    from rag.embeddings import resolve_model_path
    from rag.evaluate import NO_INDEX, load_questions, thread_turns
    from rag.retrieve import Retriever

    fit_on: list[Path] = args.fit_on or []
    paths = list(dict.fromkeys(args.questions))  # a set named twice is one set
    same = {p.resolve() for p in paths} & {p.resolve() for p in fit_on}
    if same:
        return _error(f"{sorted(same)[0]} is in both the training and the fitting sets")
    if args.epochs < 1 or args.max_length < 32:
        return _error("--epochs must be >= 1 and --max-length >= 32")
    if args.estimate and fit_on:
        return _error("--estimate reports out-of-fold declines: use it without --fit-on")
    try:
        folds = [] if fit_on else folds_of(paths, args.folds or FOLDS)
        sets = {path: load_questions(path) for path in paths}
        fitting_sets = {path: load_questions(path) for path in fit_on}
    except (OSError, ValueError) as exc:
        return _error(str(exc))
    training = [q for questions in sets.values() for q in questions]
    if not _has_both_kinds(training):
        return _error("the training sets need answerable and unanswerable questions")
    for i, fold in enumerate(folds, 1):
        if not _has_both_kinds([q for path in paths if path not in fold for q in sets[path]]):
            return _error(
                f"fold {i} of {len(folds)}: the sets outside it need answerable and "
                "unanswerable questions (use fewer folds or mix the sets)"
            )
    # the questions are retrieved as the bot would, without any gate already configured
    retriever = Retriever(replace(settings, gate_model=""))
    if not retriever.refresh():
        print(NO_INDEX, file=sys.stderr)
        return 2
    if len(training) + sum(map(len, fitting_sets.values())) >= ACCELERATE_FROM:
        retriever.embedder.accelerate()
    pairs_of: dict[Path, list[Pair]] = {path: [] for path in paths}
    set_of = [path for path, questions in sets.items() for _ in questions]  # as in `training`
    retrieved = each_retrieved(
        retriever, training, settings.top_k, "train-gate", every=200, last=True
    )
    for path, (q, hits) in zip(set_of, retrieved, strict=True):
        condensed = retriever.condense(q.question, thread_turns(q.history))
        pairs_of[path] += training_pairs(condensed, q.expected_urls, hits)
    pairs = [pair for path in paths for pair in pairs_of[path]]
    positives = sum(p.label > 0 for p in pairs)
    base = args.base_model or resolve_model_path(settings.embedding_model)
    out = args.out or settings.data_dir / DEFAULT_DIR
    weights = WEIGHTS if args.weight is None else (args.weight,)
    # the signals are kept apart (`Scored`), so the provisional weight never matters
    provisional = GateConfig(
        0.0, 0.0, settings.embedding_model, weight=weights[0], max_length=args.max_length
    )

    def gate_trained_on(chosen: list[Pair], where: Path | None) -> TrainedGate:
        try:
            model, tokenizer = train(
                chosen,
                base,
                where,
                epochs=args.epochs,
                max_length=args.max_length,
                seed=args.seed,
                device=settings.embedding_device,
            )
        except (OSError, ValueError) as exc:  # a base model that is not there or not an encoder
            raise _BaseModelError(f"--base-model {base}: {type(exc).__name__}: {exc}") from None
        return TrainedGate(
            TorchScorer(model, tokenizer, args.max_length, str(model.device)), provisional
        )

    try:
        scored: list[Scored] = []
        for i, fold in enumerate(folds, 1):
            kept = [pair for path in paths if path not in fold for pair in pairs_of[path]]
            print(
                f"train-gate: fold {i}/{len(folds)}: training on {len(kept)} pairs, "
                f"scoring the {len(fold)} left out",
                file=sys.stderr,
            )
            left_out = {path: sets[path] for path in fold}
            scored += gate_signals(retriever, gate_trained_on(kept, None), left_out, settings.top_k)
        if args.estimate:
            _write_scores(args.scores, scored)
            return _report_estimate(scored, weights, args.max_declined, args.reader_max_declined)
        print(f"train-gate: {len(pairs)} pairs ({positives} positive) from {base}", file=sys.stderr)
        gate = gate_trained_on(pairs, out)
    except _BaseModelError as exc:
        return _error(str(exc))
    if not folds:
        scored = gate_signals(retriever, gate, fitting_sets, settings.top_k)
    _write_scores(args.scores, scored)
    try:
        weight, fit = choose_weight(scored, weights, args.max_declined, args.reader_max_declined)
    except ValueError as exc:
        return _error(f"the fitting sets: {exc}")
    fitted, reader = fit.fitted, fit.reader
    config = replace(
        provisional,
        min_relevance=fitted.value,
        llm_min_relevance=reader.value,
        weight=weight,
        base_model=str(base),
        trained_on=[str(p) for p in paths],
        fitted_on=[str(p) for p in fit_on],
        folds=len(folds),
        pairs=len(pairs),
        positives=positives,
        epochs=args.epochs,
        seed=args.seed,
        probe_logit=probe_logit(gate.scorer),
    )
    (out / GATE_FILE).write_text(config.to_json(), encoding="utf-8")
    table = decline_table(fit.answerable, fit.unanswerable, [fitted.value, reader.value])
    where = f"out of {len(folds)} folds" if folds else "to fit on"
    print(
        f"{len(fit.answerable) + len(fit.unanswerable)} questions {where} "
        f"({len(fit.answerable)} answerable, {len(fit.unanswerable)} unanswerable); "
        f"relevance + {weight} x model"
    )
    if len(weights) > 1:
        _print_weights(scored, weights, args.max_declined, args.reader_max_declined)
    print(f"offline answerer: {fitted.rates()}")
    print(f"in front of a language model: {reader.rates()}")
    for row in table:
        print(f"  {row.value:.3f}: {row.rates()}")
    print(f"DOCBOT_GATE_MODEL={served_as or out}")
    return 0


__all__ = [
    "GATE_FILE",
    "GateConfig",
    "OnnxScorer",
    "Pair",
    "Scored",
    "TorchScorer",
    "TrainedGate",
    "WEIGHTS",
    "choose_weight",
    "combined",
    "folds_of",
    "gate_dir",
    "hit_passage",
    "load_gate",
    "passage",
    "probe_logit",
    "sigmoid",
    "register",
    "run",
    "train",
    "training_pairs",
    "weight_arg",
]
