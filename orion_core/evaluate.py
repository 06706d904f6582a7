"""Score one sequence of tracks against MOTChallenge ground truth with TrackEval.

The metrics themselves (HOTA with its alpha sweep, CLEAR, Identity) are TrackEval's own classes;
this module only replaces TrackEval's *loader*. `trackeval.datasets.MotChallenge2DBox` wants a
benchmark folder tree with a seqmap and seqinfo.ini, reads column 8 as a class id (in MOT15 ground
truth that column is a world coordinate, so a GT file used as predictions is rejected), and reports
bad rows without line numbers. We parse both files here, with errors a user can act on, and build
the per-frame data dict that the MOT15 branch of that loader builds:

* similarity = box IoU, computed by TrackEval's own function, before ground-truth filtering;
* ground-truth rows whose `considered` flag (column 7) is 0 are dropped; predictions that overlap
  them are *not* removed (MOT15 has no distractor classes, so the loader's distractor step is off),
  hence they count as false positives, exactly as in the official MOT15 evaluation;
* ids are relabelled to contiguous 0-based integers, separately for ground truth and predictions.

`tests/test_evaluate.py` checks that the result equals TrackEval's `Evaluator` run on a folder tree.
TrackEval reports fractions in [0, 1]; the dict returned here uses percent (x 100) for every ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, InputError, clip, quote
from .motchallenge import MAX_FRAME, read_lines

IOU_THRESHOLD = 0.5
MAX_COORD = 1e7  # pixels; larger boxes are nonsense, and from ~1e154 their area overflows float64  # CLEAR and Identity match at IoU >= 0.5; HOTA sweeps alpha itself
_COLUMNS = {"gt": (7, 10), "pred": (6, 10)}  # allowed column counts (min, max) per file kind
_RATIO_KEYS = (
    "HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA",
    "MOTA", "MOTP", "MODA", "IDF1", "IDP", "IDR",
)


@dataclass(frozen=True)
class MotRows:
    """The rows of one MOTChallenge file, as parallel arrays (one entry per row)."""

    path: Path
    kind: str  # "gt" or "pred"
    frames: np.ndarray  # (N,) int64, 1-based
    ids: np.ndarray  # (N,) int64, as written in the file
    boxes: np.ndarray  # (N, 4) float64: left, top, width, height
    flags: np.ndarray  # (N,) float64: GT `considered` flag, or prediction confidence (1 if absent)
    lines: np.ndarray  # (N,) int64, 1-based line numbers, for messages

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def read_mot_file(path: str | Path, kind: str = "gt") -> MotRows:
    """Parse a MOTChallenge text file; any bad row is an InputError naming the file and line.

    `kind="gt"`: frame,id,left,top,w,h,considered[,x,y,z] (MOT15 ground truth).
    `kind="pred"`: frame,id,left,top,w,h[,conf,x,y,z] (tracker output, e.g. Orion's tracks.txt).
    """
    if kind not in _COLUMNS:
        raise ConfigError(f"read_mot_file: kind must be 'gt' or 'pred', got {kind!r}.")
    path = Path(path)
    label = "ground-truth" if kind == "gt" else "prediction"
    lines = read_lines(path, f"{label} file")

    min_cols, max_cols = _COLUMNS[kind]
    layout = (
        "frame,id,left,top,width,height,considered[,x,y,z]"
        if kind == "gt"
        else "frame,id,left,top,width,height[,conf,x,y,z]"
    )
    rows: list[tuple[float, ...]] = []
    line_numbers: list[int] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")] if "," in line else line.split()
        while fields and fields[-1] == "":  # a trailing comma is common and harmless
            fields.pop()
        where = f"{path}, line {number}"
        if not min_cols <= len(fields) <= max_cols:
            raise InputError(
                f"{where}: {len(fields)} columns, expected {min_cols} to {max_cols} ({layout})."
            )
        try:
            values = tuple(float(f) for f in fields)
        except ValueError:
            bad = next(f for f in fields if not _is_number(f))
            raise InputError(f"{where}: {quote(bad)} is not a number (expected {layout}).") from None
        if not all(np.isfinite(values[:6])):
            raise InputError(f"{where}: frame, id and box must be finite numbers.")
        if max(abs(v) for v in values[2:6]) > MAX_COORD:  # w * h would overflow to inf and the IoU to NaN
            raise InputError(f"{where}: box coordinates beyond {MAX_COORD:,.0f} pixels; columns 3-6 are left, top, width, height.")
        frame, track_id, _, _, width, height = values[:6]
        if frame != int(frame) or frame < 1:
            raise InputError(f"{where}: frame {clip(fields[0])} must be a whole number >= 1 (MOT frames are 1-based).")
        if frame > MAX_FRAME:  # past int64's exact range, the cast below would silently change it
            raise InputError(f"{where}: frame {quote(fields[0])} is larger than {MAX_FRAME:,}, the largest Orion reads.")
        if track_id != int(track_id) or abs(track_id) > 2**53:  # larger ids are not exact in float64 / int64
            raise InputError(f"{where}: id {clip(fields[1])} must be a whole number (at most 2**53).")
        if width < 0 or height < 0:
            raise InputError(f"{where}: negative box size ({clip(fields[4])} x {clip(fields[5])}); columns 5-6 are width, height.")
        rows.append(values[:7] if len(values) >= 7 else values[:6] + (1.0,))
        line_numbers.append(number)

    table = np.asarray(rows, dtype=np.float64).reshape(-1, 7)
    parsed = MotRows(
        path=path,
        kind=kind,
        frames=table[:, 0].astype(np.int64),
        ids=table[:, 1].astype(np.int64),
        boxes=table[:, 2:6].copy(),
        flags=table[:, 6].copy(),
        lines=np.asarray(line_numbers, dtype=np.int64),
    )
    _check_unique_ids(parsed, label)
    return parsed


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_unique_ids(rows: MotRows, label: str) -> None:
    """TrackEval refuses an id seen twice in one frame; say where, and why it probably happened."""
    if len(rows) == 0:
        return
    if rows.kind == "pred" and len(rows) > 1 and np.all(rows.ids == -1):
        raise InputError(
            f"{rows.path}: every id is -1, so this is a detections file, not tracks. "
            "Pass a tracker output (e.g. tracks.txt from `orion run`) as --pred."
        )
    pairs = np.stack([rows.frames, rows.ids], axis=1)
    _, first, counts = np.unique(pairs, axis=0, return_index=True, return_counts=True)
    if np.all(counts == 1):
        return
    dup = pairs[first[np.argmax(counts > 1)]]
    where = rows.lines[(rows.frames == dup[0]) & (rows.ids == dup[1])]
    raise InputError(
        f"{rows.path}: {label} id {dup[1]} appears more than once in frame {dup[0]} "
        f"(lines {', '.join(str(n) for n in where[:5])}); each id may have one box per frame."
    )


def parse_frame_range(text: str) -> tuple[int, int]:
    """'A-B' -> (A, B), 1-based and inclusive."""
    parts = text.strip().split("-")
    try:
        first, last = (int(p) for p in parts)
    except ValueError:
        raise ConfigError(f"--frames {quote(text)}: expected A-B with whole numbers, e.g. --frames 1-400.") from None
    if first < 1 or last < first:
        raise ConfigError(f"--frames {quote(text)}: need 1 <= A <= B (frames are 1-based), e.g. --frames 1-400.")
    if last > MAX_FRAME:
        raise ConfigError(f"--frames {quote(text)}: B may be at most {MAX_FRAME:,}, the largest frame number Orion reads.")
    return first, last


def sequence_data(gt: MotRows, pred: MotRows, first: int, last: int) -> dict[str, Any]:
    """The per-timestep dict TrackEval's metrics read, for frames first..last (TrackEval MOT15 rules).

    Only frames that hold a row become timesteps, and each run of empty frames between them becomes
    one empty timestep: an empty frame changes no metric (HOTA and Identity sum over frames; CLEAR
    carries a track's previous match across it), and one stands for any number of them. So the
    work follows the rows, not the frame numbers: a stray row at frame 1e9 costs one timestep.
    `num_timesteps` is the length of those lists; `evaluate_mot` reports the frame span itself.
    """
    from trackeval.datasets import MotChallenge2DBox

    gt_keep = (gt.frames >= first) & (gt.frames <= last)
    pred_keep = (pred.frames >= first) & (pred.frames <= last)
    considered = gt_keep & (gt.flags.astype(np.int64) != 0)  # TrackEval casts the flag to int too
    gt_id_values = np.unique(gt.ids[considered])
    pred_id_values = np.unique(pred.ids[pred_keep])

    data: dict[str, Any] = {k: [] for k in ("gt_ids", "tracker_ids", "gt_dets", "tracker_dets",
                                            "tracker_confidences", "similarity_scores")}
    gt_by_frame = _rows_by_frame(gt.frames, gt_keep)
    pred_by_frame = _rows_by_frame(pred.frames, pred_keep)
    empty = np.empty(0, dtype=np.int64)
    for frame in _timesteps(sorted(set(gt_by_frame) | set(pred_by_frame)), first):
        g = gt_by_frame.get(frame, empty)
        p = pred_by_frame.get(frame, empty)
        ious = MotChallenge2DBox._calculate_box_ious(gt.boxes[g], pred.boxes[p], box_format="xywh")
        g_ok = gt.flags[g].astype(np.int64) != 0
        data["gt_ids"].append(np.searchsorted(gt_id_values, gt.ids[g][g_ok]))
        data["gt_dets"].append(gt.boxes[g][g_ok])
        data["tracker_ids"].append(np.searchsorted(pred_id_values, pred.ids[p]))
        data["tracker_dets"].append(pred.boxes[p])
        data["tracker_confidences"].append(pred.flags[p])
        data["similarity_scores"].append(ious[g_ok])
    data.update(
        num_timesteps=len(data["gt_ids"]),
        num_gt_ids=len(gt_id_values),
        num_tracker_ids=len(pred_id_values),
        num_gt_dets=int(considered.sum()),
        num_tracker_dets=int(pred_keep.sum()),
        seq=gt.path.stem,
    )
    return data


def _timesteps(frames: list[int], first: int) -> list[int | None]:
    """The frames with rows, in order, with one None (an empty frame) wherever frames were skipped."""
    steps: list[int | None] = []
    previous = first - 1
    for frame in frames:
        if frame > previous + 1:
            steps.append(None)
        steps.append(frame)
        previous = frame
    return steps


def _rows_by_frame(frames: np.ndarray, keep: np.ndarray) -> dict[int, np.ndarray]:
    index = np.flatnonzero(keep)
    order = index[np.argsort(frames[index], kind="stable")]
    values, starts = np.unique(frames[order], return_index=True)
    return {int(v): part for v, part in zip(values, np.split(order, starts[1:]))}


def run_trackeval(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """TrackEval's HOTA, CLEAR and Identity on one prepared sequence (raw TrackEval fields, 0-1)."""
    from trackeval.metrics import CLEAR, HOTA, Identity

    clear_cfg = {"THRESHOLD": IOU_THRESHOLD, "PRINT_CONFIG": False}
    return {
        "HOTA": HOTA().eval_sequence(data),
        "CLEAR": CLEAR(clear_cfg).eval_sequence(data),
        "Identity": Identity(dict(clear_cfg)).eval_sequence(data),
    }


def evaluate_mot(
    gt_path: str | Path, pred_path: str | Path, frames: tuple[int, int] | None = None
) -> dict[str, Any]:
    """HOTA / CLEAR / Identity of one sequence. Ratios are percent (TrackEval's 0-1 values x 100).

    `frames=(A, B)` keeps rows of frames A..B (1-based, inclusive) in both files; without it the
    sequence runs from frame 1 to the last frame seen in either file, so predictions beyond the
    annotated part count as false positives (a warning in the result says so).
    """
    gt = read_mot_file(gt_path, "gt")
    pred = read_mot_file(pred_path, "pred")
    warnings: list[str] = []
    if frames is None:
        gt_last = int(gt.frames.max()) if len(gt) else 0
        first, last = 1, max(gt_last, int(pred.frames.max()) if len(pred) else 0, 1)
        beyond = int((pred.frames > gt_last).sum())
        if beyond and gt_last:
            warnings.append(
                f"{beyond} predicted boxes lie after frame {gt_last}, the last ground-truth frame; "
                f"they count as false positives. Pass --frames 1-{gt_last} if the ground truth stops there."
            )
    else:
        first, last = frames
        if first < 1 or last < first:
            raise ConfigError(f"frames={frames!r}: need 1 <= first <= last (1-based, inclusive).")

    data = sequence_data(gt, pred, first, last)
    if data["num_gt_dets"] == 0:
        warnings.append(f"the ground truth has no considered boxes in frames {first}-{last}.")
    raw = run_trackeval(data)
    hota, clear, ident = raw["HOTA"], raw["CLEAR"], raw["Identity"]
    in_range = (gt.frames >= first) & (gt.frames <= last)
    result: dict[str, Any] = {
        **{k: float(np.mean(hota[k])) for k in ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA")},
        **{k: float(clear[k]) for k in ("MOTA", "MOTP", "MODA")},
        "IDSW": int(clear["IDSW"]),
        "FP": int(clear["CLR_FP"]),
        "FN": int(clear["CLR_FN"]),
        "TP": int(clear["CLR_TP"]),
        **{k: int(clear[k]) for k in ("MT", "PT", "ML", "Frag")},
        **{k: float(ident[k]) for k in ("IDF1", "IDP", "IDR")},
        **{k: int(ident[k]) for k in ("IDTP", "IDFP", "IDFN")},
        "GT_IDs": int(data["num_gt_ids"]),
        "Pred_IDs": int(data["num_tracker_ids"]),
        "GT_Dets": int(data["num_gt_dets"]),
        "Pred_Dets": int(data["num_tracker_dets"]),
        "ignored_gt_rows": int((in_range & (gt.flags.astype(np.int64) == 0)).sum()),
        "frames": [first, last],
        "num_frames": last - first + 1,
    }
    for key in _RATIO_KEYS:
        result[key] *= 100.0
    result.update(
        gt=str(gt.path),
        pred=str(pred.path),
        units="percent (TrackEval's 0-1 values x 100); counts are boxes",
        iou_threshold=IOU_THRESHOLD,
        warnings=warnings,
    )
    return result


_TABLE = (
    ("HOTA", ("HOTA", "DetA", "AssA", "LocA")),
    ("CLEAR", ("MOTA", "MOTP", "IDSW", "FP", "FN", "TP")),
    ("Identity", ("IDF1", "IDP", "IDR", "GT_IDs", "Pred_IDs")),
)


def format_table(result: dict[str, Any]) -> str:
    """A small aligned text table of the main numbers, one block per TrackEval metric family."""
    first, last = result["frames"]
    lines = [f"{result['pred']} vs {result['gt']}, frames {first}-{last} (percent; counts are boxes)"]
    for family, keys in _TABLE:
        cells = [
            (k, f"{result[k]:.3f}" if isinstance(result[k], float) else str(result[k])) for k in keys
        ]
        widths = [max(len(name), len(value)) for name, value in cells]
        lines.append(f"{family:<9}" + "  ".join(name.rjust(w) for (name, _), w in zip(cells, widths)))
        lines.append(" " * 9 + "  ".join(value.rjust(w) for (_, value), w in zip(cells, widths)))
    return "\n".join(lines)
