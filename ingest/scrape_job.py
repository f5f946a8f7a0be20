"""CML Job 1, "scrape": fetch the docs into a new snapshot under the data dir.

Run from the project root (CML runs job scripts by path from there):

    python ingest/scrape_job.py [SOURCE]

SOURCE is a links file or URL, a sitemap URL, a crawl start URL or a folder
(`kind:value` forces a kind, e.g. `crawl:https://docs.example.com/ml/`); by
default DOCBOT_INGEST_SOURCE, else the shipped `ingest/sources/cml_docs.txt`.
The index job (CML Job 2) depends on this one and reads the snapshot it
publishes. Exit status 0 when a snapshot was published, 2 when nothing could be.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run as a script, the first path entry is ingest/ itself, whose modules would
    # shadow top-level ones (ingest/markdown.py vs the markdown package): use the root.
    _ROOT = str(Path(__file__).resolve().parent.parent)
    sys.path[:1] = [_ROOT]


def main(argv: list[str] | None = None) -> int:
    from bot.logs import configure
    from ingest.scrape import run_sync
    from ingest.snapshot import SnapshotError
    from ingest.sources import SourceError, SourceSpec, default_source

    argv = sys.argv[1:] if argv is None else argv
    settings = configure("scrape job")
    try:
        source = (
            SourceSpec.parse(argv[0])
            if argv
            else default_source(settings.ingest_source, settings.ingest_base_url)
        )
        summary = run_sync(source, settings)
    except (SourceError, SnapshotError) as exc:
        print(f"scrape job: {exc}", file=sys.stderr)
        return 2
    # the last line is machine-readable: the chat reingest and the CML watcher read it
    print(json.dumps(summary.to_dict(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
