"""Inference sources: what --source names, images/folders/globs/lists/videos, and streams that fail fast."""

from __future__ import annotations

import shutil
import socket
import time

import pytest

from tests.detect_helpers import SAMPLE_IMAGES as SAMPLE
from tests.detect_helpers import make_video
from utils.errors import UserError
from utils.inference.sources import LoadImages, LoadStreams, classify_source



def closed_port() -> int:
    """A local TCP port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("source, is_file, is_url, webcam", [
    ("0", False, False, True),
    ("cams.streams", False, False, True),
    ("rtsp://host/live", False, True, True),
    ("http://host/vid.mp4", True, True, False),
    ("data/images", False, False, False),
    ("img.JPG", True, False, False),
])
def test_classify_source(source, is_file, is_url, webcam):
    k = classify_source(source)
    assert (k.is_file, k.is_url, k.webcam) == (is_file, is_url, webcam)


def test_folder_images_letterboxed_and_prefixed():
    ds = LoadImages(SAMPLE, img_size=320, stride=32)
    items = list(ds)
    assert len(ds) == 2 and len(items) == 2
    path, im, im0, cap, s = items[0]
    assert path.endswith("bus.jpg") and cap is None
    assert s == f"image 1/2 {path}: "
    assert im.shape[0] == 3 and im.shape[1] % 32 == 0 and im.shape[2] % 32 == 0 and max(im.shape) == 320
    assert im0.shape == (1080, 810, 3) and im.flags.c_contiguous


def test_fixed_size_when_not_auto():
    _, im, *_ = next(iter(LoadImages(SAMPLE / "zidane.jpg", img_size=256, stride=32, auto=False)))
    assert im.shape == (3, 256, 256)


def test_glob_txt_list_and_unreadable_file_skipped(tmp_path, log_lines):
    shutil.copy(SAMPLE / "bus.jpg", tmp_path / "a.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    listing = tmp_path / "list.txt"
    listing.write_text(f"{tmp_path / 'a.jpg'}\n{tmp_path / 'broken.jpg'}\n")
    assert len(list(LoadImages(str(tmp_path / "*.jpg"), img_size=64))) == 1
    assert len(list(LoadImages(listing, img_size=64))) == 1
    assert any("broken.jpg" in m and "skipping" in m for m in log_lines)


def test_missing_and_empty_sources_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        LoadImages(tmp_path / "nope")
    with pytest.raises(UserError, match="no images or videos"):
        LoadImages(tmp_path)


def test_video_frames_and_vid_stride(tmp_path):
    video = make_video(tmp_path / "clip.mp4", n=6)
    frames = list(LoadImages(video, img_size=64, stride=32))
    assert len(frames) == 6
    assert frames[0][4] == f"video 1/1 (1/6) {video}: " and frames[0][3] is not None
    assert frames[-1][4].startswith("video 1/1 (6/6)")
    assert [f[2][0, 0, 0] for f in frames[:2]] != [frames[0][2][0, 0, 0]] * 2  # distinct frames
    assert len(list(LoadImages(video, img_size=64, vid_stride=2))) == 3


def test_missing_camera_fails_fast():
    t = time.time()
    with pytest.raises(UserError, match="camera 97"):
        LoadStreams("97", img_size=64)
    assert time.time() - t < 5


def test_unreachable_stream_fails_fast():
    t = time.time()
    with pytest.raises(UserError, match="unreachable"):
        LoadStreams(f"rtsp://127.0.0.1:{closed_port()}/live", img_size=64, timeout=2)
    assert time.time() - t < 5


def test_streams_file_reads_listed_sources(tmp_path):
    video = make_video(tmp_path / "cam.mp4", n=30)
    streams = tmp_path / "list.streams"
    streams.write_text(f"# my cameras\n{video}\n{video}\n")
    ds = LoadStreams(str(streams), img_size=64, stride=32)
    assert len(ds) == 2 and ds.fps == [10.0, 10.0] and ds.rect
    sources, im, im0, cap, s = next(iter(ds))
    assert sources == [str(video)] * 2 and im.shape[0] == 2 and len(im0) == 2 and cap is None


def test_empty_streams_file(tmp_path):
    f = tmp_path / "none.streams"
    f.write_text("# nothing\n")
    with pytest.raises(UserError, match="lists no streams"):
        LoadStreams(str(f))


def test_paths_with_brackets_spaces_quotes_and_links_are_taken_literally(tmp_path):
    """An existing path is never a glob pattern; a .txt list holds one path a line, whatever it contains."""
    weird = tmp_path / "cam[1] it's ü"
    weird.mkdir()
    for name in ("bus one.jpg", "a[0].jpg"):
        shutil.copy(SAMPLE / "bus.jpg", weird / name)
    (tmp_path / "link.jpg").symlink_to(weird / "bus one.jpg")
    assert [p.split("/")[-1] for p in LoadImages(weird).files] == ["a[0].jpg", "bus one.jpg"]
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"\xef\xbb\xbf" + f"{weird / 'bus one.jpg'}\r\n\r\n{tmp_path / 'link.jpg'}\r\n".encode())
    assert LoadImages(listing).files == [str(weird / "bus one.jpg"), str(tmp_path / "link.jpg")]  # link keeps its name
    assert LoadImages(str(weird / "a[0].jpg")).files == [str(weird / "a[0].jpg")]
    assert len(LoadImages(str(tmp_path / "cam?1? it's ü" / "*.jpg")).files) == 2  # a missing path may be a pattern


def test_a_missing_source_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        LoadImages(tmp_path / "nope.jpg")
