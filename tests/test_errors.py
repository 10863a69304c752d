"""utils/errors: how scripts end on a user error, Ctrl-C and SIGTERM."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from utils.errors import MissingFile, UserError, WrongType, exit_on_user_error
from utils.files import ROOT

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from utils.errors import exit_on_user_error

    @exit_on_user_error
    def main(folder):
        partial = Path(folder) / "partial.tmp"
        partial.touch()
        try:
            print("ready", flush=True)
            time.sleep(120)
        finally:
            partial.unlink()

    main(sys.argv[1])
""")


def test_user_error_is_one_line_and_exit_2(capsys):
    @exit_on_user_error
    def main():
        raise UserError("--img 0 must be positive")

    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2 and capsys.readouterr().err == "ERROR: --img 0 must be positive\n"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the script's handler does not outlive it


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_unwinds_cleanup_and_exits_143(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        p.send_signal(signal.SIGTERM)
        _, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 143, err
    assert err.strip() == "Terminated (SIGTERM); files already written are complete."
    assert not (tmp_path / "partial.tmp").exists()


@pytest.mark.parametrize("error, builtin", [(UserError, ValueError), (MissingFile, FileNotFoundError),
                                            (MissingFile, ValueError), (WrongType, TypeError)])
def test_api_errors_are_the_conventional_builtin_types_with_one_line(error, builtin):
    with pytest.raises(builtin) as e:
        raise error("weights file not found: it's.pt")
    assert str(e.value) == "weights file not found: it's.pt"


@pytest.mark.parametrize("error", [MissingFile, WrongType])
def test_the_cli_still_prints_one_error_line_for_each_kind(error, capsys):
    @exit_on_user_error
    def main():
        raise error("--source x.jpg does not exist")

    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2 and capsys.readouterr().err == "ERROR: --source x.jpg does not exist\n"


def test_python_entry_points_raise_the_conventional_types(tmp_path):
    """detect.run, as the command line: missing weights are a FileNotFoundError, a bad value a ValueError."""
    import detect

    with pytest.raises(FileNotFoundError, match="weights file not found"):
        detect.run(weights=str(tmp_path / "missing.pt"), source=tmp_path, project=tmp_path)
    with pytest.raises(ValueError, match="conf_thres=2 is invalid"):
        detect.run(source=tmp_path, conf_thres=2, project=tmp_path)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EFBIG, errno.EROFS])
def test_a_full_disk_is_one_error_line_not_a_traceback(code, capsys):
    @exit_on_user_error
    def main():
        raise OSError(code, os.strerror(code), "runs/exp/weights/last.pt")

    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    assert capsys.readouterr().err == (f"ERROR: cannot write runs/exp/weights/last.pt: {os.strerror(code)} (disk full, "
                                       f"a file size limit or a read-only folder); files written before are complete\n")


def test_other_os_errors_stay_bugs_with_their_traceback():
    @exit_on_user_error
    def main():
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError):
        main()


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE")
def test_detect_on_a_full_disk_ends_in_one_line_instead_of_losing_images(yolov5n_pt, bus_jpg, tmp_path):
    """A 50 kB file size limit: the annotated image cannot be written, which OpenCV only reports by returning False."""
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    r = subprocess.run([sys.executable, "detect.py", "--weights", str(yolov5n_pt), "--source", str(bus_jpg), "--img",
                        "160", "--project", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       preexec_fn=limit, timeout=300)
    assert r.returncode == 2, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == (f"ERROR: cannot write {tmp_path / 'exp' / 'bus.jpg'} (disk full, a file "
                                                 f"size limit or a read-only folder)")
