"""Short real videos: PETS09-S2L1 frames 1-400 cut into clips, each tracked as a video of its own.

    python benchmarks/pets_clips.py ../shared/data/pets09-s2l1 [--length 80] [--backends histogram,mobilenetv2,motion]
        [--peers bytetrack,deepsort,...] [--policies on_demand] [--set KEY=VALUE ...] [--markdown]

Why: a held-out sequence may last only seconds. Orion's re-ID decisions are calibrated on the video
itself, and a short video gives too little evidence, so there the backend's prior
(`reid_threshold`) and the default first-pass gate decide (`run.json` `tracker.calibration.source`:
"prior"). `pets.py` runs all of PETS, where the calibration has its evidence after a few hundred
frames. This script measures the other regime on real pixels: every clip starts from nothing, for
every method.

Each clip is frames A..A+LENGTH-1 of vtest.avi re-encoded losslessly (FFV1: the same pixels, the
same declared rate), with det.txt and the ground truth cut to those frames and renumbered from 1.
Then `pets.py` runs on the clip folder, so methods, peers and scoring are exactly pets.py's
(published and person-level ground truth). The table gives each method's mean over the clips, and
how many clips each Orion method ran on the prior.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from orion_core.bench import format_table, load_script, markdown_table, rewrite_video
from orion_core.evaluate import parse_frame_range

METRICS = ("HOTA", "IDF1", "person_HOTA", "person_IDF1")
COLUMNS = (
    ("method", "method", "{}"), ("clips", "clips", "{}"), ("HOTA", "HOTA", "{:.1f}"), ("IDF1", "IDF1", "{:.1f}"),
    ("pHOTA", "person_HOTA", "{:.1f}"), ("pIDF1", "person_IDF1", "{:.1f}"), ("IDF1 wins", "wins", "{}"),
    ("on prior", "prior", "{}"),
)


def windows(first: int, last: int, length: int) -> list[tuple[int, int]]:
    """Consecutive clips of `length` frames inside first..last (a shorter remainder is dropped)."""
    return [(a, a + length - 1) for a in range(first, last - length + 2, length)]


def cut_rows(text: str, first: int, last: int) -> str:
    """MOT rows of frames first..last, renumbered so `first` becomes frame 1."""
    rows = []
    for line in text.splitlines():
        frame, sep, rest = line.partition(",")
        if sep and first <= int(float(frame)) <= last:
            rows.append(f"{int(float(frame)) - first + 1},{rest}")
    return "\n".join(rows) + "\n"


def cut_video(source: Path, first: int, last: int, out: Path) -> None:
    """Frames first..last (1-based) of `source` into `out`, lossless (FFV1), at the source's declared rate."""
    rewrite_video(source, out, range(first - 1, last), lambda index, frame: frame.to_ndarray(format="yuv420p"))


def make_clip(pets, data: Path, first: int, last: int, out: Path) -> Path:
    """A folder pets.py accepts, holding frames first..last of `data` as frames 1..N."""
    out.mkdir(parents=True, exist_ok=True)
    cut_video(data / pets.VIDEO, first, last, out / pets.VIDEO)
    for name in (pets.DETECTIONS, pets.GROUND_TRUTH):
        pets.write_lines(out / name, cut_rows((data / name).read_text(), first, last).splitlines())
    return out


def calibration_source(pred: str) -> str | None:
    """`tracker.calibration.source` of the Orion run that wrote `pred` (None for a peer)."""
    run_json = Path(pred).with_name("run.json")
    if not run_json.is_file():
        return None
    return json.loads(run_json.read_text()).get("tracker", {}).get("calibration", {}).get("source")


def summarise(per_clip: list[list[dict]]) -> list[dict]:
    """Per method: mean of each metric over the clips, clips where its IDF1 is the best of all, clips on the prior."""
    methods = [row["method"] for row in per_clip[0]]
    summary = []
    for method in methods:
        rows = [next(r for r in clip if r["method"] == method) for clip in per_clip]
        entry = {"method": method, "clips": len(rows)}
        for key in METRICS:
            entry[key] = statistics.fmean(float(r[key]) for r in rows)
        entry["wins"] = sum(1 for clip, r in zip(per_clip, rows) if r["IDF1"] >= max(float(o["IDF1"]) for o in clip))
        appearance = all(r.get("embedded") is not None for r in rows)  # motion-only and peers calibrate nothing
        entry["prior"] = sum(1 for r in rows if r.get("calibration") == "prior") if appearance else None
        summary.append(entry)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PETS09-S2L1 cut into short clips, each tracked on its own.")
    parser.add_argument("data_dir", type=Path, help="Folder with vtest.avi, det.txt, gt-frames-001-400.txt")
    parser.add_argument("--frames", default="1-400", help="Frames to cut into clips, A-B (ground truth covers 1-400)")
    parser.add_argument("--length", type=int, default=80, help="Frames per clip (80: 11 s at PETS's 7 fps)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-pets-clips"), help="Where clips and outputs go")
    parser.add_argument("--backends", default="histogram,mobilenetv2,motion", help="as pets.py")
    parser.add_argument("--peers", default="bytetrack,deepsort", help="as pets.py ('' for none)")
    parser.add_argument("--policies", default="on_demand", help="as pets.py")
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE",
                        help="as pets.py: an Orion setting for every Orion run; repeatable")
    parser.add_argument("--markdown", action="store_true", help="Print the tables as Markdown")
    args = parser.parse_args(argv)
    first, last = parse_frame_range(args.frames)
    if args.length < 2:
        parser.error("--length must be at least 2 frames")
    if last > 400:
        parser.error("--frames: ground truth ends at frame 400")
    clips = windows(first, last, args.length)
    if not clips:
        parser.error(f"--frames {args.frames} holds no clip of {args.length} frames")
    pets = load_script(Path(__file__).with_name("pets.py"))
    for name in (pets.VIDEO, pets.DETECTIONS, pets.GROUND_TRUTH):
        if not (args.data_dir / name).is_file():
            parser.error(f"{args.data_dir / name} not found; DATA_DIR must hold {pets.VIDEO}, {pets.DETECTIONS} and {pets.GROUND_TRUTH}")

    per_clip = []
    for a, b in clips:
        folder = make_clip(pets, args.data_dir, a, b, args.out / f"clip-{a:03d}-{b:03d}")
        print(f"clip {a}-{b}", file=sys.stderr)
        pets.main([str(folder), "--frames", f"1-{b - a + 1}", "--out", str(folder / "runs"), "--backends", args.backends,
                   "--peers", args.peers, "--policies", args.policies, *[f"--set={item}" for item in args.set]])
        rows = json.loads((folder / "runs" / "results.json").read_text())
        for row in rows:
            row["clip"] = f"{a}-{b}"
            row["calibration"] = calibration_source(row["pred"])
        per_clip.append(rows)

    table = markdown_table if args.markdown else format_table
    summary = summarise(per_clip)
    print(f"\nPETS09-S2L1 frames {first}-{last} as {len(clips)} clips of {args.length} frames, each its own video; "
          f"mean over clips (TrackEval, percent; pHOTA, pIDF1: person-level ground truth; IDF1 wins: clips where the "
          f"method's IDF1 is the highest, ties counting for each; on prior: clips whose run ended on the backend's prior)")
    print(table(summary, COLUMNS))
    print("\nper clip, HOTA / IDF1:")
    methods = [row["method"] for row in per_clip[0]]
    print(table([{"method": m, **{r["clip"]: f"{r['HOTA']:.1f} / {r['IDF1']:.1f}" for clip in per_clip for r in clip if r["method"] == m}}
                 for m in methods], [("method", "method", "{}")] + [(f"{a}-{b}", f"{a}-{b}", "{}") for a, b in clips]))
    (args.out / "results.json").write_text(json.dumps({"clips": per_clip, "summary": summary}, indent=1) + "\n",
                                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
