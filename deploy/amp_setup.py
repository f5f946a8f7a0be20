"""AMP task: finish the jobs the AMP created, through the CML API.

The AMP spec has no documented field for a job's parent or schedule
(cml_and_bedrock.md §2), so `.project-metadata.yaml` creates both jobs plain
and this session links them: the index job's parent becomes the scrape job,
the scrape job gets DOCBOT_CML_SCRAPE_SCHEDULE, the index job DOCBOT_CML_GPUS.
It is `docbot deploy cml` restricted to the jobs (the AMP starts the
application itself), matching the AMP's jobs by name.

No variables are copied onto the jobs here: in an AMP they live in the
project's environment, which stays the one place to change them.
"""

from __future__ import annotations

import sys
from pathlib import Path

# CML runs this file by path from the project root; make the packages importable
# even before (or without) the editable install of the first AMP task.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import ConfigError, Settings  # noqa: E402
from deploy.apply import deploy  # noqa: E402
from deploy.client import CmlConfigError, CmlError, make_client  # noqa: E402
from deploy.plan import render  # noqa: E402
from deploy.runtimes import RuntimeChoiceError  # noqa: E402


def main() -> int:
    try:
        settings = Settings.from_env()
        client = make_client(settings)
        result = deploy(client, settings, environ={}, include_application=False)
    except (ConfigError, CmlConfigError) as exc:
        print(f"docbot AMP setup: {exc}", file=sys.stderr)
        return 2
    except (CmlError, RuntimeChoiceError) as exc:
        print(f"docbot AMP setup: {exc}", file=sys.stderr)
        return 1
    print(render(result.plan))
    print("\n".join(result.log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
