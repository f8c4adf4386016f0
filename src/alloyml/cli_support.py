"""Run a stage entry point or command: logging set up here, errors as one message, exit code 1."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from alloyml.errors import AlloyMLError


def run_stage(main: Callable[[], None]) -> int:
    """Call ``main``; an :class:`AlloyMLError` becomes ``error: <message>`` on stderr and exit 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except AlloyMLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
