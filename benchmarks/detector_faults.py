"""A real detector's faults, measured: PETS09's public detections against its ground truth.

    python benchmarks/detector_faults.py ../shared/data/pets09-s2l1 [--seeds 0-2] [--json]

The replays (`benchmarks/trajectories.py`) need a simulated detector. `--detector realistic` is
one chosen by hand; `--detector fitted` (`orion_core.synthetic.FITTED_FAULTS`) takes its numbers
from here: SORT's published Faster R-CNN detections of PETS09-S2L1 (`det.txt`) matched to the
ground truth of frames 1-400, one frame at a time (Hungarian on IoU, a match needs IoU >= 0.4).
MOT15's TUD sequences, the held-out scenes the replays stand in for, have public detections from
the same release.

Measured, per ground-truth box (rows with `considered` 0 take part in the matching, not in the
counts; frames 401-795 are never read):

* **found**: share of boxes matched, for fully visible boxes (>= 95% of the box not under a nearer
  box, nearer = lower bottom edge) and for partly hidden ones (50-95%);
* **edge noise**: frame-to-frame change of each edge's error between consecutive matched frames
  of one person, divided by sqrt(2) (the per-frame noise if it is independent from frame to
  frame; the lag-7 change is printed to show that it is), as a share of the box's width
  (left/right) or height (top/bottom);
* **misses of visible people**: their share, and the mean length of a streak in seconds;
* **scores** of matched boxes: median and 10th percentile, fully visible and partly hidden;
* **extra boxes**: detections left unmatched that overlap a found person (IoU >= 0.2), per person.

The same numbers are then measured on TUD replays made with `FITTED_FAULTS` and
`REALISTIC_FAULTS` (`--seeds`, both sequences at 25 fps), so the table shows how close each
simulated detector comes to the real one. Visible fractions are computed from the boxes in both
cases, the same way.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from orion_core.tracking.tracker import iou_matrix

sys.path.insert(0, str(Path(__file__).parent))  # trajectories.py: the replays' sequences and seed lists


MATCH_IOU = 0.4
FULLY_VISIBLE = 0.95
PARTLY_VISIBLE = 0.5
EXTRA_IOU = 0.2
LAGS = (1, 7)


def visible_fractions(boxes: np.ndarray) -> np.ndarray:
    """Share of each xyxy box not covered by a nearer box (a lower bottom edge), on the pixel grid."""
    out = np.ones(len(boxes))
    rounded = np.round(boxes).astype(int)
    for k, (x0, y0, x1, y1) in enumerate(rounded):
        if x1 <= x0 or y1 <= y0:
            continue
        free = np.ones((y1 - y0, x1 - x0), bool)
        for j, (a0, b0, a1, b1) in enumerate(rounded):
            if j != k and boxes[j, 3] > boxes[k, 3]:
                free[max(b0 - y0, 0):max(b1 - y0, 0), max(a0 - x0, 0):max(a1 - x0, 0)] = False
        out[k] = free.mean()
    return out


def _by_frame(path: Path, keep: set[int] | None) -> dict[int, list[tuple[int, np.ndarray, float]]]:
    """frame -> [(id, xyxy, 7th column)] of a MOTChallenge file: ground truth's `considered`
    flag, or a detection's score (det.txt has id -1 everywhere, which the tracks reader refuses)."""
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    out: dict[int, list] = defaultdict(list)
    for f, i, x, y, w, h, flag in table[:, :7]:
        if keep is None or int(f) in keep:
            out[int(f)].append((int(i), np.array([x, y, x + w, y + h], float), float(flag)))
    return out


def measure(gt_path: Path, det_path: Path, fps: float, frames: range | None = None) -> dict[str, Any]:
    """The fault numbers of one detection file against its ground truth (see the module docstring)."""
    keep = set(frames) if frames is not None else None
    gt = _by_frame(gt_path, keep)
    dets = _by_frame(det_path, keep)
    people: dict[int, list[tuple[int, float, np.ndarray | None, float]]] = defaultdict(list)  # id -> (f, vis, err, score)
    extras = 0
    for f in sorted(gt):
        rows = gt[f]
        gboxes = np.array([r[1] for r in rows])
        vis = visible_fractions(gboxes)
        found = dets.get(f, [])
        dboxes = np.array([d[1] for d in found]).reshape(-1, 4)
        matched: dict[int, int] = {}
        iou = iou_matrix(gboxes, dboxes) if len(dboxes) else np.zeros((len(rows), 0))
        if len(dboxes):
            r, c = linear_sum_assignment(-iou)
            matched = {a: b for a, b in zip(r, c) if iou[a, b] >= MATCH_IOU}
        for a, (gid, g, considered) in enumerate(rows):
            if considered == 0:
                continue
            b = matched.get(a)
            if b is None:
                people[gid].append((f, vis[a], None, np.nan))
                continue
            w, h = g[2] - g[0], g[3] - g[1]
            err = (dboxes[b] - g) / np.array([w, h, w, h])
            people[gid].append((f, vis[a], err, found[b][2]))
        used = set(matched.values())
        found_people = [a for a in matched if rows[a][2] != 0]
        for b in range(len(dboxes)):
            if b not in used and found_people:
                near = iou[found_people, b].max()
                extras += int(near >= EXTRA_IOU)
    visible, partly, lags = [], [], {lag: [] for lag in LAGS}
    scores_visible, scores_partly = [], []
    misses, streaks = 0, []
    for seq in people.values():
        seq.sort(key=lambda row: row[0])
        errors = {f: err for f, v, err, _ in seq if err is not None and v >= FULLY_VISIBLE}
        for f, err in errors.items():
            for lag in LAGS:
                if f + lag in errors:
                    lags[lag].append(errors[f + lag] - err)
        run = 0
        for f, v, err, score in seq:
            if v >= FULLY_VISIBLE:
                visible.append(err is not None)
                if err is None:
                    misses += 1
                    run += 1
                    continue
                scores_visible.append(score)
            elif v >= PARTLY_VISIBLE:
                partly.append(err is not None)
                if err is not None:
                    scores_partly.append(score)
            if run:
                streaks.append(run)
                run = 0
        if run:
            streaks.append(run)
    noise = {lag: np.std(np.array(v), axis=0) / np.sqrt(2) for lag, v in lags.items() if v}
    return {
        "people_boxes": int(sum(len(s) for s in people.values())),
        "found_visible": float(np.mean(visible)) if visible else float("nan"),
        "found_partly": float(np.mean(partly)) if partly else float("nan"),
        "partly_boxes": len(partly),
        "edge_noise_lr": float(np.mean(noise[1][[0, 2]])) if 1 in noise else float("nan"),
        "edge_noise_tb": float(np.mean(noise[1][[1, 3]])) if 1 in noise else float("nan"),
        "edge_noise_lr_lag7": float(np.mean(noise[7][[0, 2]])) if 7 in noise else float("nan"),
        "miss_visible": misses / max(len(visible), 1),
        "miss_streak_s": float(np.mean(streaks)) / fps if streaks else float("nan"),
        "score_median_visible": float(np.median(scores_visible)) if scores_visible else float("nan"),
        "score_q10_visible": float(np.percentile(scores_visible, 10)) if scores_visible else float("nan"),
        "score_q10_partly": float(np.percentile(scores_partly, 10)) if scores_partly else float("nan"),
        "extras_per_person": extras / max(sum(len(s) for s in people.values()), 1),
    }


ROWS = (
    ("found, fully visible", "found_visible", "{:.3f}"),
    ("found, 50-95% visible", "found_partly", "{:.3f}"),
    ("edge noise left/right (share of width)", "edge_noise_lr", "{:.3f}"),
    ("  the same from lag-7 changes", "edge_noise_lr_lag7", "{:.3f}"),
    ("edge noise top/bottom (share of height)", "edge_noise_tb", "{:.3f}"),
    ("visible people missed", "miss_visible", "{:.3f}"),
    ("miss streak (s)", "miss_streak_s", "{:.2f}"),
    ("score median, fully visible", "score_median_visible", "{:.3f}"),
    ("score 10th percentile, fully visible", "score_q10_visible", "{:.3f}"),
    ("score 10th percentile, 50-95% visible", "score_q10_partly", "{:.3f}"),
    ("extra boxes beside a found person, per person", "extras_per_person", "{:.3f}"),
)


def replay_numbers(faults, seeds: list[int], work: Path, step: int) -> dict[str, float]:
    """Mean of `measure` over TUD replays (both sequences at 25 / `step` fps) with these faults."""
    import trajectories

    from orion_core.synthetic import read_track_boxes, replay_scene

    found: list[dict[str, Any]] = []
    for name, (size, fps) in trajectories.SEQUENCES.items():
        tracks = read_track_boxes(trajectories.ground_truth(name))
        for seed in seeds:
            scene = replay_scene(work / f"{name}-{seed}", tracks, size, fps, seed=seed, step=step, det_faults=faults,
                                 video=False, det_false_positives=0.0)
            found.append(measure(scene.gt_path, scene.det_path, fps / step))
    return {key: float(np.nanmean([f[key] for f in found])) for _, key, _ in ROWS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A real detector's faults (PETS09) against the simulated ones.")
    parser.add_argument("data_dir", type=Path, help="Folder with det.txt and gt-frames-001-400.txt")
    parser.add_argument("--seeds", default="0-2", help="Replay seeds for the simulated detectors, A-B or a comma list")
    parser.add_argument("--step", type=int, default=3,
                        help="Replays keep every STEP-th frame (3: 8.3 fps, nearest PETS's 7, so that streaks compare)")
    parser.add_argument("--json", action="store_true", help="Print JSON instead of a table")
    args = parser.parse_args(argv)
    from trajectories import parse_seeds

    from orion_core.synthetic import FITTED_FAULTS, REALISTIC_FAULTS

    seeds = parse_seeds(args.seeds)
    real = measure(args.data_dir / "gt-frames-001-400.txt", args.data_dir / "det.txt", fps=7.0, frames=range(1, 401))
    with tempfile.TemporaryDirectory() as work:
        fitted = replay_numbers(FITTED_FAULTS, seeds, Path(work) / "fitted", args.step)
        realistic = replay_numbers(REALISTIC_FAULTS, seeds, Path(work) / "realistic", args.step)
    if args.json:
        print(json.dumps({"pets": real, "fitted_replays": fitted, "realistic_replays": realistic}, indent=1))
        return 0
    print(f"{'':48s} {'PETS09 det.txt':>15s} {'fitted replay':>14s} {'realistic':>10s}")
    for label, key, fmt in ROWS:
        print(f"{label:48s} {fmt.format(real[key]):>15s} {fmt.format(fitted[key]):>14s} {fmt.format(realistic[key]):>10s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
