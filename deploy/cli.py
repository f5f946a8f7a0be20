"""`docbot deploy cml [--dry-run]` and `docbot deploy status`.

The lead wires these into `bot/cli.py`: call `register(subparsers)` while
building the parser, and `run(args, settings)` when `args.command == "deploy"`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from typing import TextIO

from bot.config import Settings
from deploy.apply import deploy, status_lines
from deploy.client import CmlClient, CmlConfigError, CmlError, make_client
from deploy.plan import render
from deploy.runtimes import RuntimeChoiceError


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `deploy cml` and `deploy status` to a parent parser's subcommands."""
    parser = subparsers.add_parser(
        "deploy", help="deploy docbot on Cloudera Machine Learning (jobs and application)"
    )
    parser.set_defaults(command="deploy")
    sub = parser.add_subparsers(dest="deploy_command", metavar="{cml,status}")
    sub.required = True
    cml = sub.add_parser(
        "cml",
        help="create or update the scrape job, the index job and the application, by name",
    )
    cml.add_argument("--dry-run", action="store_true", help="print the plan; change nothing on CML")
    cml.add_argument(
        "--client",
        choices=("auto", "sdk", "rest"),
        default="auto",
        help="cmlapi when importable (auto), or force one",
    )
    status = sub.add_parser("status", help="show the jobs' latest runs and the application state")
    status.add_argument("--client", choices=("auto", "sdk", "rest"), default="auto")
    return parser


def run(
    args: argparse.Namespace,
    settings: Settings,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    client: CmlClient | None = None,
) -> int:
    """Run a deploy subcommand. 0 success, 1 a CML error, 2 a configuration error."""
    environ = os.environ if environ is None else environ
    out = out or sys.stdout
    err = err or sys.stderr
    command = getattr(args, "deploy_command", None)
    prefer = getattr(args, "client", "auto")
    try:
        if command == "cml":
            dry_run = bool(getattr(args, "dry_run", False))
            if client is None:
                try:
                    client = make_client(settings, prefer=prefer)
                except CmlConfigError:
                    if not dry_run:
                        raise
                    client = None  # a dry run can still show the full plan of a first deploy
            result = deploy(client, settings, environ, dry_run=dry_run)
            print(render(result.plan, dry_run=dry_run), file=out)
            for line in result.log:
                print(line, file=out)
            return 0
        if command == "status":
            client = client or make_client(settings, prefer=prefer)
            print("\n".join(status_lines(client, settings)), file=out)
            return 0
        print("usage: docbot deploy {cml [--dry-run],status}", file=err)
        return 2
    except CmlConfigError as exc:
        print(f"docbot deploy: {exc}", file=err)
        return 2
    except (CmlError, RuntimeChoiceError) as exc:
        print(f"docbot deploy: {exc}", file=err)
        return 1
