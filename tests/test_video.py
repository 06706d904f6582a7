"""Video stage: streaming decode, sampling, damaged files, one-line errors, the writer."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from orion_core.config import VideoConfig
from orion_core.errors import ConfigError, InputError
from orion_core.video import FrameSampler, VideoInfo, VideoWriter, open_video

PETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "pets09-s2l1" / "vtest.avi"
FPS = 10.0
N_FRAMES = 30
SIZE = (48, 64)  # height, width


def frame_value(i: int) -> int:
    return 8 * i  # distinct, codec-proof brightness per frame


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> Path:
    """30 flat grey frames whose brightness encodes their index."""
    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    with VideoWriter(path, FPS) as writer:
        for i in range(N_FRAMES):
            image = np.full((*SIZE, 3), frame_value(i), np.uint8)
            image[:, :, 0] = 200  # red channel fixed: proves RGB order survives the round trip
            writer.write(image)
    return path


def test_writer_produces_a_playable_file_and_leaves_no_temp(tiny_video):
    assert tiny_video.is_file()
    assert [p.name for p in tiny_video.parent.iterdir()] == ["tiny.mp4"]


def test_open_video_reports_container_info(tiny_video):
    src = open_video(tiny_video)
    assert isinstance(src.info, VideoInfo)
    assert (src.info.width, src.info.height) == (SIZE[1], SIZE[0])
    assert src.info.fps == pytest.approx(FPS)
    assert src.info.frame_count == N_FRAMES
    assert src.info.to_dict()["codec"] == src.info.codec


def test_frames_stream_in_order_with_rgb_images_and_timestamps(tiny_video):
    src = open_video(tiny_video)
    frames = list(src)
    assert [f.index for f in frames] == list(range(N_FRAMES))
    assert src.frames_decoded == N_FRAMES and not src.truncated and src.error is None
    assert frames[7].time_s == pytest.approx(0.7)
    image = frames[7].image
    assert image.dtype == np.uint8 and image.shape == (*SIZE, 3)
    r, g, b = image[SIZE[0] // 2, SIZE[1] // 2].astype(int)
    assert abs(r - 200) <= 6 and abs(g - frame_value(7)) <= 6 and abs(b - frame_value(7)) <= 6


def test_iterating_twice_decodes_again(tiny_video):
    src = open_video(tiny_video)
    for frame in src:
        if frame.index == 4:
            break  # an abandoned pass must not disturb the next one
    assert len(list(src)) == N_FRAMES
    assert len(list(src)) == N_FRAMES
    assert src.frames_decoded == N_FRAMES


def test_fps_sampling_keeps_decoded_indices(tiny_video):
    src = open_video(tiny_video, VideoConfig(fps=2.5))
    assert [f.index for f in src] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert src.frames_decoded == N_FRAMES and src.frames_yielded == 8


def test_fps_above_source_rate_keeps_every_frame(tiny_video):
    assert len(list(open_video(tiny_video, VideoConfig(fps=60)))) == N_FRAMES


def test_max_frames_counts_kept_frames(tiny_video):
    src = open_video(tiny_video, VideoConfig(fps=5, max_frames=3))
    assert [f.index for f in src] == [0, 2, 4]
    assert not src.truncated


def test_sampler_restarts_after_a_gap_instead_of_bursting():
    sampler = FrameSampler(target_fps=2, source_fps=10)
    times = [0.0, 0.1, 0.5, 0.6, 5.0, 5.1, 5.2, 5.5, 5.9, 6.0]
    assert [t for t in times if sampler.keep(t)] == [0.0, 0.5, 5.0, 5.5, 6.0]


@pytest.mark.parametrize("config", [VideoConfig(fps=0), VideoConfig(fps=-1.0), VideoConfig(max_frames=0)])
def test_bad_video_config_is_a_config_error(tiny_video, config):
    with pytest.raises(ConfigError, match=r"video\.(fps|max_frames)"):
        open_video(tiny_video, config)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_truncated_file_yields_what_decodes_and_records_it(tmp_path, caplog, suffix):
    whole = tmp_path / f"noise{suffix}"
    rng = np.random.default_rng(0)
    with VideoWriter(whole, FPS) as writer:  # noise: every frame costs bytes, so a cut loses frames
        for _ in range(N_FRAMES):
            writer.write(rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8))
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    src = open_video(cut)
    with caplog.at_level(logging.WARNING, logger="orion_core.video"):
        frames = list(src)
    assert N_FRAMES // 3 < len(frames) < N_FRAMES
    assert src.truncated and "truncated" in src.error
    assert src.status() == {
        "frames_decoded": len(frames),
        "frames_yielded": len(frames),
        "truncated": True,
        "error": src.error,
    }
    assert any("truncated" in r.getMessage() for r in caplog.records)


def test_stopping_early_is_not_truncation(tiny_video):
    src = open_video(tiny_video, VideoConfig(max_frames=5))
    assert len(list(src)) == 5 and not src.truncated


def make_bad_input(directory: Path, kind: str) -> Path:
    if kind == "missing":
        return directory / "missing.mp4"
    if kind == "directory":
        return directory
    if kind == "empty":
        path = directory / "empty.mp4"
        path.write_bytes(b"")
        return path
    if kind == "det":  # FFmpeg's tty demuxer would happily "decode" a .txt as ANSI art
        path = directory / "det.txt"
        path.write_text("1,-1,10,20,30,40,0.9,-1,-1,-1\n" * 50)
        return path
    path = directory / "notes.bin"
    path.write_text("hello, not a video\n" * 50)
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "does not exist"),
        ("directory", "is a directory"),
        ("empty", "is empty"),
        ("text", "not a video"),
        ("det", "not a video"),
    ],
)
def test_unusable_inputs_fail_at_open_with_one_line(tmp_path, kind, message):
    with pytest.raises(InputError, match=message) as info:
        open_video(make_bad_input(tmp_path, kind))
    assert "\n" not in str(info.value)


def test_header_without_frames_is_an_input_error(tmp_path):
    whole = tmp_path / "whole.avi"
    with VideoWriter(whole, FPS) as writer:
        for i in range(5):
            writer.write(np.full((*SIZE, 3), frame_value(i), np.uint8))
    data = whole.read_bytes()
    head = tmp_path / "head.avi"
    head.write_bytes(data[: data.index(b"movi") + 4])  # the header survives, no frame data does
    with pytest.raises(InputError, match="no decodable video frames"):
        open_video(head)


def test_writer_pads_odd_sizes_and_rejects_changing_sizes(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, 5) as writer:
        writer.write(np.zeros((31, 45, 3), np.uint8))
        with pytest.raises(ValueError, match="differs"):
            writer.write(np.zeros((32, 46, 3), np.uint8))
    info = open_video(path).info
    assert (info.width, info.height) == (46, 32)


def test_writer_discards_the_temp_file_on_error(tmp_path):
    path = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(path, 5) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not PETS.is_file(), reason="shared PETS09 data not present")
def test_pets09_decodes_all_795_frames():
    src = open_video(PETS, VideoConfig(fps=None))
    assert (src.info.width, src.info.height, src.info.fps, src.info.frame_count) == (768, 576, 10.0, 795)
    count = 0
    for frame in src:
        assert frame.index == count
        count += 1
    assert count == src.frames_decoded == 795 and not src.truncated


def test_planar_frames_carry_the_same_picture_as_rgb_ones(tiny_video, tmp_path):
    """frames("yuv420p") hands out the decoder's I420 planes; written back with write_yuv420 and
    decoded as RGB they are the same picture (one conversion less, no colour shift)."""
    import cv2

    src = open_video(tiny_video)
    planar = [f.image for f in src.frames("yuv420p")]
    rgb = [f.image for f in src]
    assert len(planar) == len(rgb) == N_FRAMES
    assert planar[7].shape == (SIZE[0] * 3 // 2, SIZE[1]) and planar[7].dtype == np.uint8
    converted = cv2.cvtColor(planar[7], cv2.COLOR_YUV2RGB_I420)
    assert np.abs(converted.astype(int) - rgb[7].astype(int)).mean() < 2.0
    with VideoWriter(tmp_path / "copy.mp4", FPS) as writer:
        for image in planar:
            writer.write_yuv420(image)
    again = [f.image for f in open_video(tmp_path / "copy.mp4")]
    assert len(again) == N_FRAMES
    assert np.abs(again[7].astype(int) - rgb[7].astype(int)).mean() < 3.0
    with pytest.raises(ValueError, match="planes"):
        VideoWriter(tmp_path / "bad.mp4", FPS).write_yuv420(rgb[0])


def test_odd_sized_frames_come_as_rgb_when_planes_are_asked_for(tmp_path):
    path = tmp_path / "odd.mkv"  # I420 cannot hold an odd side: the writer pads, so write it with FFV1 at 33x21
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 33, 21, "yuv444p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((21, 33, 3), 40 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame.reformat(format="yuv444p")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    images = [f.image for f in open_video(path).frames("yuv420p")]
    assert [im.shape for im in images] == [(21, 33, 3)] * 3


def test_annotator_draws_the_same_marks_on_planes_as_on_rgb():
    """annotated.mp4 is drawn on I420 planes; the marks must land where the RGB drawing puts them."""
    import cv2

    from orion_core.annotate import Annotator, entity_colour
    from orion_core.types import TrackedObject

    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
    objects = [TrackedObject(1, 7, np.array([40.0, 60.0, 120.0, 200.0]), 0.9, "person", -1),
               TrackedObject(2, 3, np.array([180.0, 30.0, 260.0, 150.0]), 0.8, "car", -1)]
    rgb = Annotator().draw(image, objects, 4)
    planes = Annotator().draw_yuv420(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), objects, 4)
    back = cv2.cvtColor(planes, cv2.COLOR_YUV2RGB_I420)
    assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 4.0  # same picture
    for obj in objects:  # the box's left edge has the entity's colour in both
        x1, y1, _, y2 = (int(v) for v in obj.box)
        edge = back[(y1 + y2) // 2, x1]
        assert np.abs(edge.astype(int) - np.array(entity_colour(obj.entity_id))).max() < 40
    untouched = (slice(210, 235), slice(280, 315))  # far from every mark
    assert np.abs(back[untouched].astype(int) - image[untouched].astype(int)).mean() < 3.0


def test_trails_move_with_the_camera():
    """Under a pan, a person standing still in the scene moves across the image; with the camera's
    warps the trail stays where the person stood (one point), without them it draws the pan."""
    from orion_core.annotate import Annotator
    from orion_core.types import TrackedObject

    def trail(warps: bool) -> np.ndarray:
        annotator = Annotator()
        for k in range(5):  # the camera pans 10 px a frame: the person's box moves -10 px a frame
            box = np.array([100.0 - 10 * k, 50.0, 140.0 - 10 * k, 150.0])
            warp = np.array([[1.0, 0.0, -10.0], [0.0, 1.0, 0.0]]) if warps and k else None
            marks = annotator.marks([TrackedObject(1, 7, box, 0.9, "person", -1)], warp)
        return marks[0].trail

    assert {tuple(p) for p in trail(True)} == {(80, 150)}  # every point where the person is now
    assert [tuple(p) for p in trail(False)] == [(120, 150), (110, 150), (100, 150), (90, 150), (80, 150)]


CLOSE_RACE = """
import sys, threading
import numpy as np
from orion_core.stages import Consumer, Prefetch
from orion_core.video import VideoWriter, open_video

video, trials = sys.argv[1], int(sys.argv[2])
ended = 0
for _ in range(trials):  # decode in a worker, close from here while it is mid-frame
    source = open_video(video)
    frames = Prefetch(lambda: iter(source), 4, "decode")
    next(frames)
    frames.close(join_s=0.0)
    source.close()
    frames._thread.join(10)
    ended += not frames.alive
rng = np.random.default_rng(0)
images = [rng.integers(0, 256, (240, 320, 3), np.uint8) for _ in range(4)]
discarded = 0
for trial in range(trials):  # encode in a worker, discard from here while it is mid-frame
    writer = VideoWriter(sys.argv[3] + f"/out{trial}.mp4", 10.0)
    encoder = Consumer(writer.write, 8, "encode")
    for image in images * 2:
        encoder.submit(image)
    encoder.abort(join_s=0.0)
    writer.discard()
    encoder._thread.join(10)
    try:
        writer.write(images[0])
    except ValueError:
        discarded += 1
print(ended, discarded)
"""


def test_closing_from_another_thread_while_a_worker_decodes_or_encodes_does_not_crash(tmp_path):
    """On Ctrl-C the main thread closes the video while the decode (or encode) worker may still be
    inside FFmpeg; that freed the decoder under it and killed the process (SIGSEGV, a CI flake of
    the interrupt tests). Run in a child process: a crash must fail this test, not end pytest."""
    import subprocess
    import sys

    video = tmp_path / "noisy.mp4"
    rng = np.random.default_rng(1)
    with VideoWriter(video, FPS) as writer:
        for _ in range(40):
            writer.write(rng.integers(0, 256, (240, 320, 3), np.uint8))
    script = tmp_path / "race.py"
    script.write_text(CLOSE_RACE)
    trials = 40
    proc = subprocess.run([sys.executable, str(script), str(video), str(trials), str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split() == [str(trials), str(trials)]  # every worker ended; every discarded writer refuses frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noisy.mp4", "race.py"]  # no temp files left behind
