"""Held-out proxy: real pedestrian trajectories (TUD-Campus, TUD-Stadtmitte), simulated pixels.

    python benchmarks/trajectories.py [--sequences TUD-Campus,TUD-Stadtmitte] [--steps 1,2,3]
        [--seeds 0-5] [--methods histogram,mobilenetv2,motion,histogram-online,motion-online]
        [--peers bytetrack,ocsort,sort,deepsort,boxmot-boosttrack,boxmot-botsort,...] [--detector clean|realistic|fitted]
        [--set [SECTION.]KEY=VALUE ...] [--json] [--markdown]

Issue 10 asks for identity quality on scenes we do not have: a crowded street and a campus
walkway at 25 fps. The `motmetrics` wheel (MIT) ships the ground truth of two such sequences
(640x480, 25 fps, no video): TUD-Campus (71 frames, 8 people) and TUD-Stadtmitte (179 frames,
10 people). `orion_core.synthetic.replay_scene` renders those boxes with the synthetic
generator's textures and detector: what is real is the trajectories (speeds, turns, crowding),
the occlusion geometry between them and the frame rate; what is simulated is the pixels
(textured rectangles on a textured ground, one look-alike pair that shares a texture) and the
detections (misses below 50% visible, 2 px jitter, 5% dropout, 2% false positives). `--steps`
keeps every n-th frame, so each sequence also plays at 12.5 and 8.3 fps. `--detector realistic`
adds what public detections also do (`orion_core.synthetic.REALISTIC_FAULTS`: edges off by 5% of
the box side, misses in 0.2 s streaks, one box around two overlapping people 30% of the time,
upper-body duplicates, two background spots detected on 30% of the frames). `--detector fitted`
takes a real detector's faults as measured instead (`orion_core.synthetic.FITTED_FAULTS`: SORT's
public Faster R-CNN detections of PETS09 against its ground truth, `benchmarks/detector_faults.py`;
MOT15's TUD sequences have detections from the same release). `--set` overrides an
Orion setting for an ablation (peers are unaffected): `KEY=VALUE` is a tracking setting,
`memory.KEY=VALUE` or `embedding.KEY=VALUE` one of those sections.

Every method gets the same video and det.txt. Orion runs as `orion run video.mp4 --detector mot
--detections det.txt --label person` with each backend (its defaults), motion-only
(`--no-appearance`), and histogram and motion-only `--online` (no offline pass; online appearance
is judged against online motion-only); peers come from
`benchmarks/pets.py` (roboflow `trackers` ByteTrack/OC-SORT/SORT, deep-sort-realtime DeepSORT,
and BoxMOT 25's BoostTrack/BoT-SORT/ByteTrack/OC-SORT motion-only, the peers of issue 10's
held-out table; each with its defaults, skipped with a note when missing). Scores: TrackEval through
`orion_core.evaluate.evaluate_mot`, mean over seeds (seeds change textures, background and
detection noise, never the trajectories). Nothing here is tuned.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from orion_core.bench import format_table, load_script, markdown_table, parse_settings, run_orion, write_mot
from orion_core.errors import ConfigError
from orion_core.evaluate import evaluate_mot

SEQUENCES = {"TUD-Campus": ((640, 480), 25.0), "TUD-Stadtmitte": ((640, 480), 25.0)}
# method -> (backend or None for motion-only, appearance on, offline pass on)
ORION = {
    "histogram": ("histogram", True, True),
    "mobilenetv2": ("mobilenetv2", True, True),
    "motion": (None, False, True),
    "histogram-online": ("histogram", True, False),
    "motion-online": (None, False, False),  # the fair baseline for histogram-online
}
METRICS = ("HOTA", "AssA", "DetA", "IDF1", "MOTA", "IDSW", "Pred_IDs", "GT_IDs")
# per-run Orion diagnostics kept from run.json (means over seeds in the table's JSON)
DIAGNOSTICS = ("reidentified", "merged_entities", "offline_links", "interpolated", "recovered_by_appearance",
               "camera_compensated_frames", "calibration_source", "calibration_bar", "tracks", "entities")
COLUMNS = (
    ("sequence", "sequence", "{}"), ("fps", "fps", "{:.1f}"), ("method", "method", "{}"),
    ("HOTA", "HOTA", "{:.1f}"), ("AssA", "AssA", "{:.1f}"), ("IDF1", "IDF1", "{:.1f}"), ("MOTA", "MOTA", "{:.1f}"),
    ("IDSW", "IDSW", "{:.1f}"), ("ids", "Pred_IDs", "{:.1f}"), ("gt ids", "GT_IDs", "{:.0f}"), ("s", "seconds", "{:.1f}"),
)


def load_pets() -> Any:
    """benchmarks/pets.py as a module: its peer runners are the ones every benchmark uses."""
    return load_script(Path(__file__).with_name("pets.py"))


def ground_truth(name: str) -> Any:
    """The sequence's gt.txt inside the installed motmetrics package (never copied into the repo)."""
    import importlib.resources

    try:
        import motmetrics
    except ImportError:
        raise SystemExit("benchmarks/trajectories.py needs motmetrics (pip install motmetrics, or .[bench])") from None
    path = importlib.resources.files(motmetrics) / "data" / name / "gt.txt"
    if not path.is_file():
        raise SystemExit(f"{path} not found in this motmetrics version")
    return path


def parse_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = (int(v) for v in text.split("-"))
        return list(range(first, last + 1))
    return [int(v) for v in parse_list(text)]


def orion_diagnostics(run_dir: Path) -> dict[str, Any]:
    """What Orion did, from its run.json: re-IDs, merges, offline links, calibration."""
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    counts, tracker = record.get("counts", {}), record.get("tracker", {})
    calibration = tracker.get("calibration") or {}
    return {
        "reidentified": counts.get("reidentified"), "merged_entities": counts.get("merged_entities"),
        "offline_links": counts.get("offline_links"), "interpolated": counts.get("interpolated"),
        "tracks": counts.get("tracks"), "entities": counts.get("entities"),
        "recovered_by_appearance": tracker.get("recovered_by_appearance"),
        "camera_compensated_frames": tracker.get("camera_compensated_frames"),
        "calibration_source": calibration.get("source"), "calibration_bar": calibration.get("bar"),
    }


def run_scene(scene: Any, methods: list[str], peers: list[str], out: Path, pets: Any,
              settings: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every method on one rendered scene; one dict per method with its scores and diagnostics.
    `settings` overrides Orion's config, by section (an ablation); peers are unaffected."""
    from orion_core.config import deep_merge
    from orion_core.plugins import installed_backends

    results = []
    for method in methods:
        backend, appearance, offline = ORION[method]
        if backend is not None and backend not in installed_backends():
            print(f"note: backend {backend!r} is not installed; {method} skipped", file=sys.stderr)
            continue
        overrides = deep_merge(settings or {}, {} if offline else {"tracking": {"offline": False}}) or None
        run = run_orion(scene.video_path, scene.det_path, out, method, backend=backend, appearance=appearance,
                        label="person", overrides=overrides)
        results.append({"method": f"orion {method}", "seconds": run.seconds, "pred": str(run.tracks),
                        **orion_diagnostics(run.tracks.parent)})
    for name in peers:
        module, runner = pets.PEERS[name]
        missing = pets.available(module)
        if missing:
            print(f"note: {name} skipped ({module} not importable: {missing})", file=sys.stderr)
            continue
        started = time.perf_counter()
        rows = runner(scene.video_path, scene.det_path, scene.frames)
        seconds = time.perf_counter() - started
        results.append({"method": name, "seconds": seconds, "pred": str(write_mot(out / name / "tracks.txt", rows))})
    for result in results:
        result.update({k: v for k, v in evaluate_mot(scene.gt_path, result["pred"]).items() if k in METRICS})
    return results


def mean_over_seeds(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (sequence, fps, method): numeric fields averaged over seeds, in first-seen order."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["sequence"], run["fps"], run["method"]), []).append(run)
    rows = []
    for (sequence, fps, method), members in groups.items():
        row: dict[str, Any] = {"sequence": sequence, "fps": fps, "method": method, "seeds": len(members)}
        for key in (*METRICS, "seconds", *DIAGNOSTICS):
            values = [m[key] for m in members if isinstance(m.get(key), (int, float)) and not isinstance(m.get(key), bool)]
            if values:
                row[key] = statistics.fmean(values)
        rows.append(row)
    return rows


def verdicts(rows: list[dict[str, Any]], peers: list[str]) -> list[dict[str, Any]]:
    """Per sequence and rate, per Orion appearance method: beats motion-only on IDF1? beats the best
    peer on HOTA and on IDF1 (best peer chosen per metric)?"""
    out = []
    for key in sorted({(r["sequence"], r["fps"]) for r in rows}, key=lambda k: (k[0], -k[1])):
        group = {r["method"]: r for r in rows if (r["sequence"], r["fps"]) == key}
        peer_rows = [group[p] for p in peers if p in group]
        for method in ("orion histogram", "orion mobilenetv2", "orion histogram-online"):
            if method not in group:
                continue
            mine = group[method]
            # online appearance against online motion-only when it ran (both without the offline pass)
            motion = group.get("orion motion-online" if method.endswith("-online") else "orion motion")
            motion = motion or group.get("orion motion")
            verdict: dict[str, Any] = {"sequence": key[0], "fps": key[1], "method": method,
                                       "motion baseline": motion["method"] if motion else None}
            if motion is not None:
                verdict["IDF1 vs motion-only"] = round(mine["IDF1"] - motion["IDF1"], 1)
            for metric in ("HOTA", "IDF1"):
                if peer_rows:
                    best = max(peer_rows, key=lambda r: r[metric])
                    verdict[f"{metric} vs best peer"] = round(mine[metric] - best[metric], 1)
                    verdict[f"best peer {metric}"] = best["method"]
            out.append(verdict)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Real trajectories, simulated pixels: Orion vs peers (TUD, 25 fps).")
    parser.add_argument("--sequences", default=",".join(SEQUENCES), help="Comma list of TUD-Campus, TUD-Stadtmitte")
    parser.add_argument("--steps", default="1,2,3", help="Frame subsampling steps: 1 = 25 fps, 2 = 12.5, 3 = 8.3")
    # 6 seeds: with 3, one swap on one 60-frame clip moved a cell's mean by 4 points (benchmarks/README.md)
    parser.add_argument("--seeds", default="0-5", help="Texture/detection-noise seeds, A-B or a comma list")
    parser.add_argument("--methods", default="histogram,mobilenetv2,motion,histogram-online,motion-online",
                        help=f"Orion methods: {', '.join(ORION)}")
    parser.add_argument("--peers", default="bytetrack,ocsort,sort,deepsort,boxmot-boosttrack,boxmot-botsort",
                        help="Peer trackers ('' for none; missing packages are skipped with a note)")
    parser.add_argument("--lookalikes", type=int, default=1, help="Pairs of closest-approaching people sharing a texture")
    parser.add_argument("--textures", choices=("auto", "procedural", "clothing"), default="auto",
                        help="What people wear: auto (photos, then patterns: every person distinct), procedural, or "
                             "clothing (street colours, many near-repeats: appearance is weak evidence, as in a real "
                             "crowd)")
    parser.add_argument("--detector", choices=("clean", "realistic", "fitted"), default="clean",
                        help="clean: the generator's detector; realistic: add orion_core.synthetic.REALISTIC_FAULTS "
                             "(size-proportional jitter, streaky misses, merged boxes on overlapping people, "
                             "upper-body duplicates, persistent clutter); fitted: orion_core.synthetic.FITTED_FAULTS, "
                             "a Faster R-CNN's faults measured on PETS09 (benchmarks/detector_faults.py)")
    parser.add_argument("--exposure", type=float, default=0.0,
                        help="Brightness swing of the rendered frames, a fraction in [0, 1): 1 +- this, one cycle "
                             "per orion_core.synthetic.EXPOSURE_PERIOD_S (default 0: steady)")
    parser.add_argument("--white-balance", type=float, default=0.0,
                        help="Colour swing of the rendered frames, a fraction in [0, 1): red 1 +- this and blue 1 -+ "
                             "this, over the same cycle (default 0: steady)")
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE",
                        help="Override an Orion setting for every Orion run (an ablation): a tracking setting, or "
                             "memory.KEY / embedding.KEY, e.g. --set offline_interpolate_min_run=0 --set "
                             "embedding.crop_padding=0.1; repeatable")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-trajectories"), help="Where scenes and outputs go")
    parser.add_argument("--json", action="store_true",
                        help="Print every run, the means and the verdicts as JSON instead of tables (OUT/results.json always has them)")
    parser.add_argument("--markdown", action="store_true", help="Tables as Markdown")
    args = parser.parse_args(argv)

    from orion_core.bench import ensure_backend
    from orion_core.synthetic import FITTED_FAULTS, REALISTIC_FAULTS, read_track_boxes, replay_scene

    faults = {"realistic": REALISTIC_FAULTS, "fitted": FITTED_FAULTS}.get(args.detector)
    if not 0.0 <= args.exposure < 1.0 or not 0.0 <= args.white_balance < 1.0:
        parser.error("--exposure and --white-balance must be in [0, 1)")

    pets = load_pets()
    try:
        settings = parse_settings(args.set)
    except ConfigError as exc:
        parser.error(str(exc))
    methods, peers = parse_list(args.methods), parse_list(args.peers)
    for name in methods:
        if name not in ORION:
            parser.error(f"unknown method {name!r}; choose from {', '.join(ORION)}")
        if ORION[name][0] is not None:
            ensure_backend(ORION[name][0])
    for name in peers:
        if name not in pets.PEERS:
            parser.error(f"unknown peer {name!r}; choose from {', '.join(pets.PEERS)}")
    runs: list[dict[str, Any]] = []
    started = time.perf_counter()
    for sequence in parse_list(args.sequences):
        if sequence not in SEQUENCES:
            parser.error(f"unknown sequence {sequence!r}; choose from {', '.join(SEQUENCES)}")
        size, fps = SEQUENCES[sequence]
        tracks = read_track_boxes(ground_truth(sequence))
        for step in (int(s) for s in parse_list(args.steps)):
            for seed in parse_seeds(args.seeds):
                where = args.out / f"{sequence}-step{step}-seed{seed}"
                scene = replay_scene(where / "scene", tracks, size, fps, seed=seed, step=step, lookalikes=args.lookalikes,
                                     textures=args.textures, det_faults=faults, exposure=args.exposure,
                                     white_balance=args.white_balance)
                for result in run_scene(scene, methods, peers, where, pets, settings):
                    runs.append({"sequence": sequence, "fps": round(fps / step, 2), "step": step, "seed": seed, **result})
                print(f"{sequence} step {step} seed {seed} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    rows = mean_over_seeds(runs)
    checks = verdicts(rows, peers)
    summary = json.dumps({"detector": args.detector, "textures": args.textures, "lookalikes": args.lookalikes, "exposure": args.exposure, "white_balance": args.white_balance, "tracking_overrides": settings.get("tracking", {}), "overrides": settings, "runs": runs,
                          "mean_over_seeds": rows, "verdicts": checks}, indent=1) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(summary, encoding="utf-8")  # always kept, for per-run diagnosis
    if args.json:
        print(summary, end="")
        return 0
    table = markdown_table if args.markdown else format_table
    print(f"Real trajectories, simulated pixels, {args.detector} detector{f', {args.textures} textures' if args.textures != 'auto' else ''}{f', exposure +-{args.exposure:g}' if args.exposure else ''}{f', white balance +-{args.white_balance:g}' if args.white_balance else ''}; mean over seeds {args.seeds} (TrackEval, percent)")
    print(table(rows, COLUMNS))
    print()
    print("Orion appearance modes: IDF1 minus motion-only's (online against online), and HOTA/IDF1 minus the best peer's "
          "(positive = Orion ahead)")
    print(table(checks, (("sequence", "sequence", "{}"), ("fps", "fps", "{:.1f}"), ("method", "method", "{}"),
                         ("IDF1 - motion", "IDF1 vs motion-only", "{:+.1f}"), ("motion baseline", "motion baseline", "{}"),
                         ("HOTA - best peer", "HOTA vs best peer", "{:+.1f}"), ("best HOTA peer", "best peer HOTA", "{}"),
                         ("IDF1 - best peer", "IDF1 vs best peer", "{:+.1f}"), ("best IDF1 peer", "best peer IDF1", "{}"))))
    print(f"total {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
