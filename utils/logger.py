"""Console logging shared by every script: one named logger and YOLOv5's ANSI colour helper."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from utils.distributed import is_main_process

LOGGING_NAME = "yolov5"
VERBOSE = str(os.getenv("YOLOv5_VERBOSE", True)).lower() == "true"


def set_logging(name: str = LOGGING_NAME, verbose: bool = True) -> logging.Logger:
    """Log plain messages to stdout; silence every rank but 0 under DDP."""
    level = logging.INFO if verbose and is_main_process() else logging.ERROR
    logger = logging.getLogger(name)
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.propagate = False
    return logger


LOGGER = set_logging(LOGGING_NAME, verbose=VERBOSE)


@contextlib.contextmanager
def quiet(enabled: bool = True) -> Iterator[None]:
    """Warnings only inside the block (model summaries, export chatter), the previous level back after it."""
    level = LOGGER.level
    if enabled:
        LOGGER.setLevel(logging.WARNING)
    try:
        yield
    finally:
        LOGGER.setLevel(level)

_COLOURS = {
    "black": "\033[30m", "red": "\033[31m", "green": "\033[32m", "yellow": "\033[33m",
    "blue": "\033[34m", "magenta": "\033[35m", "cyan": "\033[36m", "white": "\033[37m",
    "bright_black": "\033[90m", "bright_red": "\033[91m", "bright_green": "\033[92m",
    "bright_yellow": "\033[93m", "bright_blue": "\033[94m", "bright_magenta": "\033[95m",
    "bright_cyan": "\033[96m", "bright_white": "\033[97m", "end": "\033[0m", "bold": "\033[1m",
    "underline": "\033[4m",
}


def colorstr(*args: str) -> str:
    """Wrap the last argument in the named ANSI styles, e.g. colorstr('blue', 'bold', 'hello')."""
    *styles, text = args if len(args) > 1 else ("blue", "bold", args[0])
    return "".join(_COLOURS[s] for s in styles) + f"{text}" + _COLOURS["end"]


def print_args(args: dict, prefix: str = "") -> None:
    """Print a script's arguments on one line, as YOLOv5 does at start-up."""
    LOGGER.info(colorstr(prefix) + ", ".join(f"{k}={v}" for k, v in args.items()))
