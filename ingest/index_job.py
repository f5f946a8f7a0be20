"""CML Job 2, "index": the current docs snapshot -> a new, checked, published index version.

Run from the project root after the scrape job (its CML parent job):

    python ingest/index_job.py [--force] [--rollback]

Embeds on CUDA with fp16 when a GPU is there, else on every CPU core. Chunks
whose text and embedding model are unchanged reuse their vectors. The live
version is replaced only after the new one passed its checks (page-loss guard,
probe query); on any failure the bot keeps serving the previous version.
Exit status: 0 published, 1 refused by a check, 2 nothing to index (no snapshot, an
unreadable one, nothing to roll back to) or busy.
The last line printed is the summary as JSON (the chat re-ingest reads it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings

if __name__ == "__main__":
    # As a script, sys.path[0] is ingest/ itself, whose modules would shadow top-level
    # ones (ingest/markdown.py vs the markdown package): use the project root.
    sys.path[:1] = [str(Path(__file__).resolve().parent.parent)]


def run_index_job(
    settings: Settings, *, force: bool = False, rollback: bool = False, progress: bool = False
) -> tuple[int, dict[str, Any]]:
    """Index the current snapshot (or roll back). Returns (exit status, summary)."""
    from ingest.pipeline import pages_from_snapshot
    from ingest.snapshot import SnapshotError
    from rag.index_build import (
        IngestBusyError,
        PublishRefusedError,
        build_index,
        ingest_lock,
        write_summary,
    )
    from rag.index_store import IndexStore, IndexStoreError

    if rollback:
        try:
            version = IndexStore(settings).rollback()
        except (IndexStoreError, IngestBusyError) as exc:  # nothing earlier, or an ingest runs
            return 2, {"error": str(exc)}
        return 0, {
            "rolled_back_to": version.id,
            "pages": version.page_count,
            "chunks": version.chunk_count,
        }
    try:
        with ingest_lock(settings):
            pages, manifest = pages_from_snapshot(settings)
            scrape = manifest.get("counts") or manifest.get(
                "summary", {}
            )  # the scrape's page counts
            source = manifest.get("source", "")
            summary = build_index(
                pages, settings, force=force, progress=progress, source=json.dumps(source)
            )
    except (FileNotFoundError, SnapshotError, IngestBusyError) as exc:
        # no snapshot, an unreadable one, or another ingest running: nothing indexed, and
        # the job says why in one line instead of a traceback in the CML job's log
        return 2, {"error": str(exc)}
    except PublishRefusedError as exc:
        result = {
            "source": source,
            "scrape": scrape,
            "index": {"published": False, "refused": str(exc)},
            "error": str(exc),
        }
        write_summary(settings, result)
        return 1, result
    except IndexStoreError as exc:
        # the index store refused: most often the live version named by `current` is missing
        # or unreadable, with nothing to build on until an operator rolls back (--rollback)
        # or repairs it; one line, not a traceback, that claims no more than it knows
        return 2, {
            "error": f"index store: {exc} (if the live index is damaged, "
            "`docbot index --rollback` returns to the version before it)"
        }
    result = {
        "source": source,
        "scrape": scrape,
        "index": summary.to_dict(),
        # flat counts for the chat re-ingest report
        "pages_added": scrape.get("new", 0),
        "pages_changed": scrape.get("changed", 0),
        "pages_removed": scrape.get("removed", 0),
        "pages_failed": scrape.get("failed", 0),
        "chunks_embedded": summary.chunks_embedded,
        "chunks_reused": summary.chunks_reused,
    }
    write_summary(settings, result)
    return 0, result


def main(argv: list[str] | None = None) -> int:
    import argparse

    from bot.logs import configure

    parser = argparse.ArgumentParser(prog="index_job", description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--force", action="store_true", help="publish even if many pages were lost")
    parser.add_argument(
        "--rollback", action="store_true", help="make the previous version live again"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = configure("index job")
    code, result = run_index_job(
        settings, force=args.force, rollback=args.rollback, progress=sys.stderr.isatty()
    )
    if "error" in result:
        print(
            f"index job: {result['error']}"
            + (" (the live index is unchanged)" if code == 1 else ""),
            file=sys.stderr,
        )
    print(json.dumps(result, ensure_ascii=False))
    return code


if __name__ == "__main__":
    sys.exit(main())
