"""`run.py` called in this process: the command line as a user types it, without starting a new Python.

A subprocess costs 1-2 s (15-25 s on a loaded machine) to import everything again; `run.main` takes
about 0.1 s. Tests keep a real `python run.py` only where the process boundary is the point (serving
to another process, a closed pipe, signals, gunicorn, what `--help` imports).
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from unittest.mock import patch

from run import main


@dataclass(frozen=True)
class Ran:
    """What a finished command left: its exit status and what it printed (as subprocess.run gives)."""

    returncode: int
    stdout: str
    stderr: str


def run_in_process(env: Mapping[str, str], *args: str, stdin: str | None = None) -> Ran:
    """`python run.py ARGS` with exactly the environment `env` (as `command_env` builds it), in-process."""
    out, err = io.StringIO(), io.StringIO()
    with ExitStack() as stack:
        stack.enter_context(patch.dict(os.environ, env, clear=True))
        stack.enter_context(_standard_input(stdin))
        stack.enter_context(redirect_stdout(out))
        stack.enter_context(redirect_stderr(err))
        try:
            status = main(list(args))
        except SystemExit as exc:  # argparse refusing the command line
            status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return Ran(status, out.getvalue(), err.getvalue())


@contextmanager
def _standard_input(text: str | None) -> Iterator[None]:
    """Standard input holding `text`, or empty as for a subprocess given no input."""
    with patch.object(sys, "stdin", io.StringIO(text or "")):
        yield


def code_in(out: str) -> str:
    """The code `worker invite` printed."""
    return out.split("): ", 1)[1].split()[0]
