"""Many videos: one `orion run` per video (today's shell loop) vs `--workers N` vs `--executor ray`.

Cuts N clips of F frames from PETS09-S2L1 (each with its public detections, frames renumbered),
then runs the same corpus three ways, each as its own `orion run` process tree, and prints wall
time, frames/s and peak memory. Memory is sampled from /proc every 0.2 s over the whole process
tree of the run (the workers, and for Ray its GCS, raylet and actors too): "peak PSS" is the sum
of proportional set sizes (shared library pages counted once, split between the processes that
map them), "largest RSS" the biggest single process. Every way must write byte-identical
tracks.txt; the script fails otherwise.

    python benchmarks/corpus.py ../shared/data/pets09-s2l1 [--videos 6] [--frames 100]
        [--backend histogram] [--workers 2] [--modes seq,w1,wn,ray]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def cut_corpus(pets: Path, root: Path, videos: int, frames: int) -> tuple[Path, Path]:
    """`videos` clips of `frames` frames, spread over the sequence, and a detections folder."""
    from orion_core.config import VideoConfig
    from orion_core.video import VideoWriter, open_video

    clip_dir, det_dir = root / "videos", root / "dets"
    clip_dir.mkdir(parents=True)
    det_dir.mkdir()
    total = 795
    det_lines = [line.split(",", 1) for line in (pets / "det.txt").read_text().splitlines() if line.strip()]
    for i in range(videos):
        start = (i * frames) % max(1, total - frames)
        with VideoWriter(clip_dir / f"clip{i:02d}.mp4", fps=7.0) as writer:
            source = open_video(pets / "vtest.avi", VideoConfig(max_frames=start + frames))
            try:
                for frame in source:
                    if frame.index >= start:
                        writer.write(frame.image)
            finally:
                source.close()
        with open(det_dir / f"clip{i:02d}.txt", "w") as out:
            for frame, rest in det_lines:
                f = int(float(frame))
                if start < f <= start + frames:
                    out.write(f"{f - start},{rest}\n")
    return clip_dir, det_dir


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _kib(path: str, key: str) -> int:
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeMemory:
    """Peak summed PSS and peak single-process RSS of this process's descendants, sampled."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.peak_pss_kib = 0
        self.peak_rss_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        tree = _children()
        todo, seen = list(tree.get(os.getpid(), [])), []
        while todo:
            pid = todo.pop()
            seen.append(pid)
            todo.extend(tree.get(pid, []))
        pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in seen)
        rss = max((_kib(f"/proc/{pid}/status", "VmRSS:") for pid in seen), default=0)
        self.peak_pss_kib = max(self.peak_pss_kib, pss)
        self.peak_rss_kib = max(self.peak_rss_kib, rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> "TreeMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def orion(*args: str) -> list[str]:
    return [sys.executable, "-m", "orion_core", "run", *args]


def run_mode(name: str, commands: list[list[str]], frames: int) -> dict:
    with TreeMemory() as memory:
        started = time.perf_counter()
        for command in commands:
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode != 0:
                raise SystemExit(f"{name}: {' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
        wall = time.perf_counter() - started
    return {
        "mode": name,
        "wall_s": wall,
        "fps": frames / wall,
        "peak_pss_mib": memory.peak_pss_kib / 1024,
        "largest_rss_mib": memory.peak_rss_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pets", type=Path, help="folder with vtest.avi and det.txt (../shared/data/pets09-s2l1)")
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--frames", type=int, default=100, help="frames per clip")
    parser.add_argument("--backend", default="histogram")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--modes", default="seq,w1,wn,ray", help="which runs, comma separated: seq,w1,wn,ray (drop ray without Ray)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="orion-corpus-bench-"))
    try:
        clips, dets = cut_corpus(args.pets, root, args.videos, args.frames)
        common = ["--backend", args.backend, "--device", "cpu", "--label", "person"]
        total_frames = args.videos * args.frames
        modes = [
            (
                "seq",
                "sequential: one `orion run` per video",
                [orion(str(c), "--detections", str(dets / f"{c.stem}.txt"), "--out", str(root / "seq"), *common) for c in sorted(clips.iterdir())],
                root / "seq",
            ),
            (
                "w1",
                "`orion run DIR` (1 worker, models loaded once)",
                [orion(str(clips), "--detections", str(dets), "--out", str(root / "w1"), *common)],
                root / "w1",
            ),
            (
                "wn",
                f"`orion run DIR --workers {args.workers}`",
                [orion(str(clips), "--detections", str(dets), "--out", str(root / "wn"), "--workers", str(args.workers), *common)],
                root / "wn",
            ),
            (
                "ray",
                f"`orion run DIR --executor ray --workers {args.workers}` (local Ray, start-up included)",
                [orion(str(clips), "--detections", str(dets), "--out", str(root / "ray"), "--executor", "ray", "--workers", str(args.workers), *common)],
                root / "ray",
            ),
        ]
        wanted = set(args.modes.split(","))
        modes = [m[1:] for m in modes if m[0] in wanted]
        rows = []
        for name, commands, _ in modes:
            rows.append(run_mode(name, commands, total_frames))
            print(f"done: {name}: {rows[-1]['wall_s']:.1f} s", file=sys.stderr)
        reference = {c.stem: (modes[0][2] / c.stem / "tracks.txt").read_bytes() for c in clips.iterdir()}
        for name, _, out in modes[1:]:
            got = {c.stem: (out / c.stem / "tracks.txt").read_bytes() for c in clips.iterdir()}
            if got != reference:
                raise SystemExit(f"{name}: tracks.txt differs from {modes[0][0]}")
        cores = len(os.sched_getaffinity(0))
        same = "tracks.txt byte-identical in every mode" if len(modes) > 1 else "one mode"
        print(f"{args.videos} videos x {args.frames} frames (PETS09 clips), backend {args.backend}, mot detections, {cores} cores; {same}\n")
        print("| mode | wall s | frames/s | peak PSS, whole tree (MiB) | largest process RSS (MiB) |")
        print("|---|---:|---:|---:|---:|")
        for row in rows:
            print(f"| {row['mode']} | {row['wall_s']:.1f} | {row['fps']:.1f} | {row['peak_pss_mib']:.0f} | {row['largest_rss_mib']:.0f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
