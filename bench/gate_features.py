"""Per-question decline signals for question sets, written as JSON lines for fitting.

    DOCBOT_DATA_DIR=/tmp/q_site3 python bench/gate_features.py tests/data/dev_questions.jsonl \
        --out /tmp/gate_features.jsonl

One line per question: set, id, whether it is answerable and whether it is a follow-up,
the signals `rag.decline_model` weighs (`Signals.as_row`, computed on the hits the bot
decides on), and the current model's logit. `bench/gate_fit.py` fits and cross-validates
the model on them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.live import live_retriever  # noqa: E402
from bot.config import Settings  # noqa: E402
from rag.decline_model import signals, unanswerable_logit  # noqa: E402
from rag.evaluate import load_questions, thread_turns  # noqa: E402

K = 10  # results per question, as `docbot eval` asks for


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("questions", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    retriever = live_retriever(settings)
    if retriever is None:
        return 2
    n = 0
    with args.out.open("w") as out:
        for path in args.questions:
            for q in load_questions(path):
                hits = retriever.search(q.question, k=K, history=thread_turns(q.history))
                judged = hits[: settings.top_k]
                found = signals(judged, retriever.relevance(judged))
                row = {
                    "set": path.stem,
                    "id": q.id,
                    "answerable": q.answerable,
                    "followup": bool(q.history),
                    **found.as_row(),
                    "logit": unanswerable_logit(found),
                }
                out.write(json.dumps(row) + "\n")
                n += 1
            print(f"{path.stem}: {n} questions so far", file=sys.stderr)
    print(f"wrote {n} rows to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
