"""User-facing errors: raised with a message that says what is wrong and where, shown without a traceback."""

from __future__ import annotations

import functools
import sys
from typing import Callable


class UserError(Exception):
    """A problem with the user's input (file, flag, config) rather than a bug in this program."""


def exit_on_user_error(main: Callable) -> Callable:
    """Run a script's main(); a UserError becomes one 'ERROR: ...' line and exit code 2, Ctrl-C one line and 130."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("Interrupted (Ctrl-C); files already written are complete.", file=sys.stderr)
            sys.exit(130)

    return wrapper
