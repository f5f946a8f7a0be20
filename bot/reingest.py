"""Re-ingest from chat: on CML, run the two Jobs; elsewhere, the same pipeline in-process."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.config import Settings

log = logging.getLogger(__name__)

Say = Callable[[str], Awaitable[None]]
Job = Callable[[Say], Awaitable[None]]


def on_cml(settings: Settings) -> bool:
    return bool(settings.cml_domain and settings.cml_project_id and settings.cml_api_key)


def plan_reingest(settings: Settings) -> Job | None:
    """The coroutine to run for `/docbot reingest`, or None when nothing is configured."""
    if on_cml(settings):

        async def cml_job(say: Say) -> None:
            from deploy.client import CmlError, make_client
            from deploy.reingest import ReingestError, run_cml_reingest

            try:
                summary = await run_cml_reingest(make_client(settings), settings, say)
                await say(str(summary.get("text") or "Re-ingest finished."))
            except (ReingestError, CmlError) as exc:  # written to be shown as they are
                await say(str(exc))
            except Exception as exc:  # unexpected: a short reason in the thread, details in the log
                log.exception("CML re-ingest failed")
                await say(
                    f"Re-ingest on CML failed ({type(exc).__name__}); the current docs stay live."
                )

        return cml_job
    if not settings.ingest_source:
        return None

    async def local_job(say: Say) -> None:
        from ingest.pipeline import IngestRequest, run_ingest
        from ingest.snapshot import SnapshotError
        from ingest.sources import SourceError, default_source
        from rag.index_build import IngestBusyError
        from rag.index_store import IndexStoreError

        try:
            await run_ingest(
                IngestRequest(default_source(settings.ingest_source, settings.ingest_base_url)),
                settings,
                on_progress=say,
            )
        except (SourceError, SnapshotError, IngestBusyError, IndexStoreError) as exc:
            # written to be shown (URLs redacted): a missing source, a refused publish, ...
            log.warning("re-ingest failed: %s", exc)
            await say(f"Re-ingest failed, the current docs stay live: {exc}")
        except Exception as exc:  # unexpected: the kind in the thread, details in the log only
            log.exception("re-ingest failed")
            await say(f"Re-ingest failed ({type(exc).__name__}); the current docs stay live.")

    return local_job
