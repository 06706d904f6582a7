"""A small corpus cut from the shared PETS09 video, for the corpus tests (local and Ray).

Clips are re-encoded with Orion's own VideoWriter, and each gets the public detections of its
frames renumbered from 1, so `--detector mot` + histogram runs them in about a second each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PETS = Path(os.environ.get("ORION_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")) / "pets09-s2l1"
VIDEO = PETS / "vtest.avi"
DET = PETS / "det.txt"
AVAILABLE = VIDEO.is_file() and DET.is_file()
REASON = "real data folder ../shared/data (pets09-s2l1) not present"

# stem -> (first frame, 0-based, frames); lengths differ so "longest first" has something to order
CLIPS = {"cam_a": (0, 30), "cam_b": (100, 40), "cam_c": (200, 20)}
SLOW = ("slow", 0, 400)  # long enough for a test to kill its worker mid-video


@dataclass
class Corpus:
    videos: Path  # folder: the clips + broken.mp4 + nodets.mp4
    detections: Path  # folder: cam_a.txt, cam_b/det/det.txt, cam_c.txt, broken.txt (no nodets)
    clips: dict[str, Path]


def _frames(start: int, count: int):
    from orion_core.config import VideoConfig
    from orion_core.video import open_video

    source = open_video(VIDEO, VideoConfig(max_frames=start + count))
    try:
        for frame in source:
            if frame.index >= start:
                yield frame.image
    finally:
        source.close()


def write_clip(path: Path, start: int, count: int) -> Path:
    from orion_core.video import VideoWriter

    with VideoWriter(path, fps=7.0) as writer:
        for image in _frames(start, count):
            writer.write(image)
    return path


def write_detections(path: Path, start: int, count: int) -> Path:
    rows = []
    for line in DET.read_text().splitlines():
        frame, rest = line.split(",", 1)
        f = int(float(frame))
        if start < f <= start + count:
            rows.append(f"{f - start},{rest}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n")
    return path


def build_corpus(root: Path) -> Corpus:
    videos, dets = root / "videos", root / "dets"
    videos.mkdir(parents=True)
    clips = {}
    for stem, (start, count) in CLIPS.items():
        clips[stem] = write_clip(videos / f"{stem}.mp4", start, count)
        det = dets / stem / "det" / "det.txt" if stem == "cam_b" else dets / f"{stem}.txt"  # both layouts
        write_detections(det, start, count)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2048))
    write_detections(dets / "broken.txt", 0, 30)
    (videos / "nodets.mp4").write_bytes(clips["cam_c"].read_bytes())  # a fine video with no detections file
    return Corpus(videos=videos, detections=dets, clips=clips)


def histogram_config(detections: Path | str, out: Path):
    from orion_core.config import build_config

    return build_config(
        preset="histogram",
        overrides={"detection": {"detector": "mot", "detections": str(detections)}, "output": {"out_dir": str(out)}},
    )


def tree_bytes(folder: Path, names=("tracks.txt", "tracks.jsonl", "memory.json")) -> dict[str, bytes]:
    """The deterministic outputs of every episode under `folder` (run.json has times in it)."""
    return {
        f"{episode.name}/{name}": (episode / name).read_bytes()
        for episode in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        for name in names
    }
