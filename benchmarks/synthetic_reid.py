"""Synthetic re-entry benchmark: does an object that leaves and comes back get its old id?

    python benchmarks/synthetic_reid.py [--seeds 0-9] [--backend histogram,mobilenetv2,motion]

For each seed, `orion_core.synthetic.make_scene` writes a short video with exact ground truth in
which object 1 walks out of the right edge and, after a gap longer than the tracker's max_age,
comes back from the left edge lower down: motion alone cannot link the two tracklets, only the
long-term memory (appearance) can. Orion runs on the scene's precomputed detections (det.txt)
with each backend and motion-only. A re-entry counts as kept when the predicted id covering the
object before it left (majority over its last 15 ground-truth frames, boxes matched per frame by
IoU >= 0.5) equals the one covering it after it came back (majority over its first 15 frames);
see `orion_core.bench.score_reentries`. IDF1/HOTA come from `orion_core.evaluate.evaluate_mot`.

Target (issue 4): >= 95% kept with histogram and mobilenetv2; motion-only should fail them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orion_core.bench import format_table, markdown_table, run_orion, score_reentries
from orion_core.evaluate import evaluate_mot, read_mot_file

MOTION = "motion"
COLUMNS = (
    ("method", "method", "{}"), ("re-entries", "reentries", "{}"), ("kept", "kept", "{}"),
    ("kept %", "kept_pct", "{:.0f}"), ("IDF1", "IDF1", "{:.1f}"), ("HOTA", "HOTA", "{:.1f}"),
    ("IDSW", "IDSW", "{}"), ("seconds", "seconds", "{:.1f}"),
)


def method_name(backend: str) -> str:
    return "motion-only" if backend == MOTION else backend


def evaluate_seed(seed: int, backends: list[str], out: Path, frames: int = 150,
                  size: tuple[int, int] = (480, 360), textures: str = "auto",
                  n_objects: int | None = None) -> list[dict[str, Any]]:
    """One scene, every method: re-entry outcomes plus IDF1/HOTA/IDSW, one dict per method."""
    from orion_core.synthetic import make_scene

    extra = {} if n_objects is None else {"n_objects": n_objects}
    scene = make_scene(out / f"scene-{seed}", seed=seed, frames=frames, size=size, textures=textures, **extra)
    gt = read_mot_file(scene.gt_path, "gt")
    rows = []
    for backend in backends:
        run = run_orion(scene.video_path, scene.det_path, out / f"runs-{seed}", method_name(backend),
                        backend=None if backend == MOTION else backend, appearance=backend != MOTION)
        outcomes = score_reentries(gt, read_mot_file(run.tracks, "pred"), scene.reentries, fps=scene.fps)
        scores = evaluate_mot(scene.gt_path, run.tracks)
        rows.append({
            "seed": seed,
            "method": method_name(backend),
            "reentries": len(outcomes),
            "kept": sum(o.kept for o in outcomes),
            "outcomes": [{"object_id": o.object_id, "old_id": o.old_id, "new_id": o.new_id, "kept": o.kept} for o in outcomes],
            "IDF1": scores["IDF1"],
            "HOTA": scores["HOTA"],
            "IDSW": scores["IDSW"],
            "seconds": run.seconds,
        })
    return rows


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per method: re-entries and kept summed over seeds, IDF1/HOTA averaged, IDSW and seconds summed."""
    out = []
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        total, kept = sum(r["reentries"] for r in mine), sum(r["kept"] for r in mine)
        out.append({
            "method": method,
            "seeds": len(mine),
            "reentries": total,
            "kept": kept,
            "kept_pct": 100.0 * kept / total if total else float("nan"),
            "IDF1": sum(r["IDF1"] for r in mine) / len(mine),
            "HOTA": sum(r["HOTA"] for r in mine) / len(mine),
            "IDSW": sum(r["IDSW"] for r in mine),
            "seconds": sum(r["seconds"] for r in mine),
        })
    return out


def installed(backends: list[str]) -> list[str]:
    from orion_core.plugins import installed_backends

    names = installed_backends()
    keep = []
    for backend in backends:
        if backend == MOTION or backend in names:
            keep.append(backend)
        else:
            print(f"note: backend {backend!r} is not installed; skipped", file=sys.stderr)
    return keep


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Synthetic re-entry benchmark (identity kept across an exit and return).")
    parser.add_argument("--seeds", default="0-9", help="Seed range A-B (inclusive)")
    parser.add_argument("--backend", default=f"histogram,mobilenetv2,{MOTION}",
                        help=f"Backends to compare, comma separated; '{MOTION}' = motion-only")
    parser.add_argument("--frames", type=int, default=150, help="Frames per scene")
    parser.add_argument("--textures", choices=("auto", "procedural", "clothing"), default="auto",
                        help="What the objects wear: auto (photos, then patterns: all distinct) or clothing (people "
                             "in street colours: the returning one may look like others, so a re-ID bar is tested "
                             "for recall, not only precision)")
    parser.add_argument("--objects", type=int, default=None, help="Objects per scene (default: the generator's)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-synthetic"), help="Where scenes and runs go")
    parser.add_argument("--markdown", action="store_true", help="Print the table as Markdown")
    args = parser.parse_args(argv)

    first, last = _seed_range(args.seeds)
    backends = installed([b.strip() for b in args.backend.split(",") if b.strip()])
    rows = []
    for seed in range(first, last + 1):
        seed_rows = evaluate_seed(seed, backends, args.out, frames=args.frames, textures=args.textures,
                                  n_objects=args.objects)
        rows += seed_rows
        marks = "  ".join(f"{r['method']} {r['kept']}/{r['reentries']}" for r in seed_rows)
        print(f"seed {seed}: {marks}", file=sys.stderr)
    summary = summarise(rows)
    dressed = "" if args.textures == "auto" else f", {args.textures} textures"
    crowd = "" if args.objects is None else f", {args.objects} objects"
    print(f"Synthetic re-entry, seeds {first}-{last}, {args.frames} frames each{dressed}{crowd} (kept = same id after re-entry)")
    print(markdown_table(summary, COLUMNS) if args.markdown else format_table(summary, COLUMNS))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"per_seed": rows, "summary": summary}, indent=1) + "\n",
                                           encoding="utf-8")
    return 0


def _seed_range(text: str) -> tuple[int, int]:
    """'A-B' (inclusive) or a single 'A'; seeds start at 0."""
    try:
        first, last = (int(part) for part in text.split("-")) if "-" in text else (int(text), int(text))
    except ValueError:
        raise SystemExit(f"error: --seeds {text!r}: expected A-B with whole numbers, e.g. --seeds 0-9") from None
    if first < 0 or last < first:
        raise SystemExit(f"error: --seeds {text!r}: need 0 <= A <= B, e.g. --seeds 0-9")
    return first, last


if __name__ == "__main__":
    sys.exit(main())
