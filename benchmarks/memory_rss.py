"""Peak memory of `orion run` does not grow with the length of the video.

Builds PETS09-S2L1 repeated N times (packets stream-copied, so no re-encoding; det.txt frame
numbers shifted per copy), runs `orion run` on the 1x and the Nx video as separate processes
and reports each one's peak resident set size (`wait4` rusage of that child alone).

    python benchmarks/memory_rss.py ../shared/data/pets09-s2l1 [--copies 10] [--backend histogram]

Streaming decode, per-observation appends to disk and bounded tracker/memory state should keep
the Nx figure within a few percent of the 1x one. What still grows: entity galleries (bounded by
memory.max_entities) and the parsed det.txt (its size), plus, with a torch backend on CPU, glibc
heap fragmentation that the engine's periodic malloc_trim only partly offsets at the peak.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOLERANCE = 0.10  # the bound: Nx peak RSS within 10% of 1x


def repeat_video(src: Path, dst: Path, copies: int) -> int:
    """`src` played `copies` times in one file by packet copy; returns the number of packets (frames)."""
    import av

    with av.open(str(src)) as first:
        stream = first.streams.video[0]
        packets = [(bytes(p), p.pts, p.dts, p.duration, p.is_keyframe) for p in first.demux(stream) if p.dts is not None]
        time_base = stream.time_base
        with av.open(str(dst), "w", format="avi") as out:
            out_stream = out.add_stream_from_template(stream)
            last_pts, last_duration = max((pts, duration or 1) for _, pts, _, duration, _ in packets)
            span = last_pts + last_duration  # one copy's length in stream ticks
            for copy in range(copies):
                for data, pts, dts, duration, key in packets:
                    packet = av.Packet(data)
                    packet.stream = out_stream
                    packet.time_base = time_base
                    packet.pts, packet.dts, packet.duration = pts + copy * span, dts + copy * span, duration
                    packet.is_keyframe = key
                    out.mux(packet)
    return len(packets) * copies


def repeat_detections(src: Path, dst: Path, copies: int, frames_per_copy: int) -> None:
    """MOT det.txt with each copy's frame numbers shifted by `frames_per_copy`."""
    lines = [line.split(",", 1) for line in src.read_text().splitlines() if line.strip()]
    with open(dst, "w") as out:
        for copy in range(copies):
            for frame, rest in lines:
                out.write(f"{int(float(frame)) + copy * frames_per_copy},{rest}\n")


def peak_rss_mib(command: list[str]) -> tuple[float, float, str]:
    """(peak RSS in MiB, wall seconds, stdout) of one child process, measured by `wait4` on it alone."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{err.read()}")
        return usage.ru_maxrss / 1024, wall, out.read()  # Linux reports kilobytes


def orion_run(video: Path, det: Path, out: Path, backend: str) -> list[str]:
    return [
        sys.executable, "-m", "orion_core", "run", str(video), "--detector", "mot", "--detections", str(det),
        "--label", "person", "--backend", backend, "--device", "cpu", "--out", str(out),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="the pets09-s2l1 folder (vtest.avi, det.txt)")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--backend", default="histogram")
    parser.add_argument("--keep", type=Path, help="build and run in this folder and keep it (default: a temp folder)")
    args = parser.parse_args()
    video, det = args.data_dir / "vtest.avi", args.data_dir / "det.txt"
    work = args.keep or Path(tempfile.mkdtemp(prefix="orion-rss-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        long_video, long_det = work / f"vtest_x{args.copies}.avi", work / f"det_x{args.copies}.txt"
        frames = repeat_video(video, long_video, args.copies)
        repeat_detections(det, long_det, args.copies, frames // args.copies)
        print(f"built {long_video.name}: {frames} frames; backend {args.backend}; python {sys.version.split()[0]}")
        results = {}
        for label, (v, d) in {"1x": (video, det), f"{args.copies}x": (long_video, long_det)}.items():
            rss, wall, out = peak_rss_mib(orion_run(v, d, work / "runs", args.backend))
            summary = re.search(r"(\d+) frames, (\d+) observations", out)
            frames_done, observations = (int(summary[1]), int(summary[2])) if summary else (-1, -1)
            results[label] = rss
            print(f"{label:>4}: {frames_done:6d} frames {observations:7d} observations  peak RSS {rss:7.1f} MiB  ({wall:.1f} s)")
        long_rss = results[f"{args.copies}x"]
        ratio = long_rss / results["1x"]
        verdict = "OK" if ratio <= 1 + TOLERANCE else f"FAIL (more than {TOLERANCE:.0%} above 1x)"
        print(f"ratio {args.copies}x/1x = {ratio:.3f}  {verdict}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if ratio > 1 + TOLERANCE:
        sys.exit(1)


if __name__ == "__main__":
    main()
