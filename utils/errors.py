"""User-facing errors: raised with a message that says what is wrong and where, shown without a traceback."""

from __future__ import annotations

import errno
import functools
import signal
import sys
import threading
from typing import Callable


class UserError(ValueError):
    """A problem with the user's input (file, flag, config) rather than a bug in this program; a ValueError, so that
    Python callers who catch the conventional type catch it."""


class MissingFile(UserError, FileNotFoundError):
    """A file or folder the user named does not exist (catchable as FileNotFoundError too)."""


class WrongType(UserError, TypeError):
    """A Python API argument of the wrong type (catchable as TypeError too)."""


DISK_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EDQUOT}  # the machine's limits, not a bug: one line


class Terminated(KeyboardInterrupt):
    """SIGTERM (kill, timeout, a job scheduler): stops everything and unwinds as Ctrl-C does, so that cleanup code
    removes temporary files (a SystemExit would be taken for a converter's own exit)."""


def _terminate(signum: int, frame) -> None:
    raise Terminated


def exit_on_user_error(main: Callable) -> Callable:
    """Run a script's main(); a UserError or a full disk becomes one 'ERROR: ...' line and exit code 2, Ctrl-C one
    line and 130, SIGTERM one line and 143 (when its handler is the default, in the main thread)."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        own = (threading.current_thread() is threading.main_thread()
               and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
        if own:
            signal.signal(signal.SIGTERM, _terminate)
        try:
            return main(*args, **kwargs)
        except UserError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            sys.exit(2)
        except OSError as e:
            if e.errno not in DISK_ERRORS:
                raise
            print(f"ERROR: cannot write {e.filename or 'a file'}: {e.strerror} (disk full, a file size limit or a "
                  f"read-only folder); files written before are complete", file=sys.stderr)
            sys.exit(2)
        except Terminated:
            print("Terminated (SIGTERM); files already written are complete.", file=sys.stderr)
            sys.exit(143)
        except KeyboardInterrupt:
            print("Interrupted (Ctrl-C); files already written are complete.", file=sys.stderr)
            sys.exit(130)
        finally:
            if own:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)

    return wrapper
