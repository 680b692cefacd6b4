"""GridDesk's command line: `uv run run.py [serve|scheduler|say|tickets|...]`.

A short entry point: it parses the command line and runs one command from bot/commands/, whose module
(with Flask, SQLAlchemy, openpyxl... as that command needs) is imported only then, so `--help` and the
listings start fast (docs/benchmarks.md, "Command line").
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from bot.commands.parser import build_parser
from config.settings import Settings, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and run one command (serve when none is given)."""
    argv = with_default_command(list(argv or []))
    args = build_parser().parse_args(argv)
    configure_logging()
    settings: Settings | None = None
    try:
        settings = load_settings()
        if args.community is not None:
            # Imported only then: a deployment of one community never reads the register.
            from bot.commands.communities import settings_for

            settings = settings_for(settings, args.community)
        return args.func(settings, args)
    except Exception as exc:
        # Imported on the way out only: most runs never fail.
        from bot.commands.errors import explain

        explained = explain(exc, settings)
        if explained is None:
            raise
        message, status = explained
        print(message, file=sys.stderr)
        return status


def with_default_command(argv: list[str]) -> list[str]:
    """The command line with `serve` put in when no command is named (after a leading --community)."""
    skip = 2 if argv[:1] == ["--community"] and len(argv) > 1 else 0
    skip = 1 if argv[:1] and argv[0].startswith("--community=") else skip
    rest = argv[skip:]
    # A lone --community is argparse's to refuse ("expected one argument"), not serve's.
    if not rest or (rest[0].startswith("-") and rest[0] not in ("-h", "--help", "--community")):
        return [*argv[:skip], "serve", *rest]
    return argv


def configure_logging() -> None:
    """INFO lines with a time, without the chatter of the libraries underneath."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Werkzeug's access log prints full query strings, which carry residents' openids.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # The dispatcher runs every few seconds; its per-run lines would drown everything else.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def entry_point(argv: Sequence[str]) -> int:
    """main() as a process: a reader that stops early (`| head`) or Ctrl-C ends it quietly."""
    try:
        status = main(argv)
        sys.stdout.flush()  # here, so a closed pipe shows up inside the try
    except BrokenPipeError:
        # Python's recipe: point stdout at devnull, or the flush at exit fails a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(entry_point(sys.argv[1:]))
