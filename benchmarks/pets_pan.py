"""A moving camera on real pixels: PETS09-S2L1 re-shot by a virtual camera that pans, tilts and zooms.

    python benchmarks/pets_pan.py ../shared/data/pets09-s2l1 [--frames 1-400] [--pan 96] [--tilt 48]
        [--zoom 1.25] [--period 60] [--still 0] [--modes off,auto] [--backends histogram,mobilenetv2,motion]
        [--peers bytetrack,boxmot-botsort,...] [--policies on_demand] [--set KEY=VALUE ...] [--markdown]

Why: camera motion compensation (`tracking.cmc`) was shown on synthetic scenes only
(`cmc_pan.py`), where the background is flat colour and the objects are painted boxes. Held-out
sequences may come from a moving camera; this measures the compensation where corners come from
real pavement, grass and pedestrians, and the detections are a real detector's.

Each output frame is a window of the PETS frame: `--view` (`WINDOW`) of the frame's size at zoom 1, moved
along a smooth path (centre `pan` pixels left/right over `period` frames, `tilt` up/down over 1.5
periods, zoom from 1 to `zoom` and back over 2 periods: the window shrinks and is scaled up to
the output size), clamped inside the frame, warped with one `cv2.warpAffine` per frame and written
losslessly (FFV1, the source's declared rate). det.txt and the ground truth go through the same
affine; a box less than `MIN_VISIBLE` inside the window is dropped (the object has left the view),
the rest are clipped to it. Then `pets.py` runs on that folder once per `--modes` value of
`tracking.cmc` (peers only in the first: they do not read Orion settings), so methods, peers and
scoring are exactly pets.py's. `--scale` films with a sensor of another resolution (below 1 the
frame is blurred first, as a lens and larger pixels would); `--view 1 --pan 0 --tilt 0 --zoom 1
--scale 0.5` is the still PETS camera at half resolution.

A virtual camera is an ideal moving camera: every pixel moves by one affine, with no parallax,
rolling shutter or motion blur. It tests the estimation on real texture and the tracker's use of
it, not a handheld camera's other faults.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from orion_core.bench import format_table, load_script, markdown_table, rewrite_video
from orion_core.evaluate import parse_frame_range

WINDOW = 0.75  # window side at zoom 1, as a fraction of the frame's (576 x 432 of PETS's 768 x 576)
MIN_VISIBLE = 0.25  # a box less than this fraction inside the window is dropped; the rest are clipped
COLUMNS = (
    ("method", "method", "{}"), ("cmc", "cmc", "{}"), ("HOTA", "HOTA", "{:.1f}"), ("AssA", "AssA", "{:.1f}"),
    ("IDF1", "IDF1", "{:.1f}"), ("MOTA", "MOTA", "{:.1f}"), ("IDSW", "IDSW", "{}"), ("pHOTA", "person_HOTA", "{:.1f}"),
    ("pIDF1", "person_IDF1", "{:.1f}"), ("applied", "applied", "{}"),
)


@dataclass(frozen=True)
class CameraPath:
    """Where the virtual camera looks at frame t (0-based): `window(t)` = (left, top, scale)."""

    width: int  # source frame
    height: int
    pan: float = 96.0  # pixels the window's centre swings left and right
    tilt: float = 48.0  # ... up and down
    zoom: float = 1.25  # largest zoom (the window shrinks by this factor, then is scaled back up)
    period: float = 60.0  # frames of one left-right swing
    still: int = 0  # frames before the camera starts to move
    view: float = WINDOW  # window side at zoom 1, as a fraction of the frame's
    scale: float = 1.0  # output pixels per source pixel at zoom 1 (a sensor of another resolution)
    shake: float = 0.0  # std of a handheld camera's jitter, source pixels, independent each frame
    exposure: float = 0.0  # auto-exposure swing: the frame's brightness times 1 +- this, over 3 periods

    def gain(self, t: int) -> float:
        return 1.0 + self.exposure * math.sin(2.0 * math.pi * t / (3.0 * self.period))

    def _jitter(self, t: int) -> tuple[float, float]:
        if self.shake <= 0 or t < self.still:
            return 0.0, 0.0
        dx, dy = np.random.default_rng(t).normal(0.0, self.shake, 2)  # the same jitter for frame t every time
        return float(dx), float(dy)

    @property
    def output_size(self) -> tuple[int, int]:
        return round(self.width * self.view * self.scale), round(self.height * self.view * self.scale)

    def window(self, t: int) -> tuple[float, float, float]:
        """(left, top) of the window in source pixels and the scale from source to output pixels."""
        s = max(0, t - self.still)
        z = 1.0 + (self.zoom - 1.0) * 0.5 * (1.0 - math.cos(2.0 * math.pi * s / (2.0 * self.period)))
        win_w, win_h = self.width * self.view / z, self.height * self.view / z
        dx, dy = self._jitter(t)
        cx = self.width / 2.0 + self.pan * math.sin(2.0 * math.pi * s / self.period) + dx
        cy = self.height / 2.0 + self.tilt * math.sin(2.0 * math.pi * s / (1.5 * self.period)) + dy
        left = min(max(cx - win_w / 2.0, 0.0), self.width - win_w)
        top = min(max(cy - win_h / 2.0, 0.0), self.height - win_h)
        return left, top, z * self.scale

    def matrix(self, t: int) -> np.ndarray:
        """2x3 affine from source to output pixels."""
        left, top, z = self.window(t)
        return np.array([[z, 0.0, -z * left], [0.0, z, -z * top]])


def move_rows(text: str, path: CameraPath, frames: int | None = None) -> list[str]:
    """MOT rows (frame 1-based, up to `frames`) as the virtual camera sees them; boxes mostly outside
    dropped, the rest clipped."""
    out_w, out_h = path.output_size
    rows = []
    for line in text.splitlines():
        parts = line.split(",")
        if len(parts) < 6 or (frames is not None and int(float(parts[0])) > frames):
            continue
        left, top, z = path.window(int(float(parts[0])) - 1)
        x, y, w, h = (float(v) for v in parts[2:6])
        x0, y0, x1, y1 = z * (x - left), z * (y - top), z * (x + w - left), z * (y + h - top)
        cx0, cy0, cx1, cy1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(out_w)), min(y1, float(out_h))
        if w <= 0 or h <= 0 or cx1 <= cx0 or cy1 <= cy0:
            continue
        if (cx1 - cx0) * (cy1 - cy0) < MIN_VISIBLE * (x1 - x0) * (y1 - y0):
            continue
        parts[2:6] = [f"{cx0:.2f}", f"{cy0:.2f}", f"{cx1 - cx0:.2f}", f"{cy1 - cy0:.2f}"]
        rows.append(",".join(parts))
    return rows


def reshoot_video(source: Path, out: Path, path: CameraPath, frames: int) -> None:
    """The first `frames` frames of `source` through the virtual camera, lossless (FFV1), at the declared rate."""
    import cv2

    def film(index: int, frame) -> np.ndarray:
        image = frame.to_ndarray(format="rgb24")
        if path.scale < 1.0:  # warpAffine samples; a coarser sensor averages: blur away what it cannot hold
            image = cv2.GaussianBlur(image, (0, 0), (1.0 / path.scale - 1.0) / 2.0)
        if path.exposure:
            image = np.clip(image.astype(np.float32) * path.gain(index), 0, 255).astype(np.uint8)
        return cv2.warpAffine(image, path.matrix(index), path.output_size, flags=cv2.INTER_LINEAR)

    rewrite_video(source, out, range(frames), film, path.output_size)


def make_panned(pets, data: Path, path: CameraPath, frames: int, out: Path) -> Path:
    """A folder pets.py accepts: the first `frames` frames of `data` as the virtual camera films them."""
    out.mkdir(parents=True, exist_ok=True)
    reshoot_video(data / pets.VIDEO, out / pets.VIDEO, path, frames)
    for name in (pets.DETECTIONS, pets.GROUND_TRUTH):
        pets.write_lines(out / name, move_rows((data / name).read_text(), path, frames))
    return out


def estimate_errors(folder: Path, video_name: str, path: CameraPath, frames: int) -> np.ndarray:
    """Per frame, the mean distance (output pixels, over a 9 x 7 grid of the view) between where
    Orion's estimated camera motion and the true one move a point from the previous frame; NaN
    where no estimate was made. Same estimator and background mask as a run (`cmc: on`)."""
    import av

    from orion_core.tracking.cmc import CameraMotion

    boxes: dict[int, list[list[float]]] = {}
    for line in (folder / "det.txt").read_text().splitlines():
        parts = line.split(",")
        x, y, w, h = (float(v) for v in parts[2:6])
        boxes.setdefault(int(float(parts[0])) - 1, []).append([x, y, x + w, y + h])
    out_w, out_h = path.output_size
    grid = np.array([[x, y, 1.0] for x in np.linspace(0, out_w, 9) for y in np.linspace(0, out_h, 7)])
    camera = CameraMotion("on")
    errors = []
    with av.open(str(folder / video_name)) as video:
        for t, frame in enumerate(video.decode(video=0)):
            if t >= frames:
                break
            warp = camera.update(frame.to_ndarray(format="rgb24"), np.array(boxes.get(t, []), np.float64).reshape(-1, 4))
            if t == 0:
                continue
            step = np.vstack([path.matrix(t), [0, 0, 1]]) @ np.linalg.inv(np.vstack([path.matrix(t - 1), [0, 0, 1]]))
            errors.append(np.nan if warp is None else float(np.hypot(*(grid @ (warp - step[:2]).T).T).mean()))
    return np.array(errors)


def source_size(video: Path) -> tuple[int, int]:
    from orion_core.video import open_video

    source = open_video(video)
    try:
        return source.info.width, source.info.height
    finally:
        source.close()


def cmc_applied(pred: str) -> int | None:
    """Frames whose warp the tracker applied (`run.json` `tracker.camera_motion.applied`; None for a peer)."""
    run_json = Path(pred).with_name("run.json")
    if not run_json.is_file():
        return None
    return json.loads(run_json.read_text()).get("tracker", {}).get("camera_motion", {}).get("applied")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PETS09-S2L1 filmed by a virtual moving camera, each method tracked on it.")
    parser.add_argument("data_dir", type=Path, help="Folder with vtest.avi, det.txt, gt-frames-001-400.txt")
    parser.add_argument("--frames", default="1-400", help="Frames to score, A-B (ground truth covers 1-400)")
    parser.add_argument("--pan", type=float, default=96.0, help="Pixels the view swings left and right (default 96)")
    parser.add_argument("--tilt", type=float, default=48.0, help="Pixels it swings up and down (default 48)")
    parser.add_argument("--zoom", type=float, default=1.25, help="Largest zoom, >= 1 (default 1.25)")
    parser.add_argument("--period", type=float, default=60.0, help="Frames of one left-right swing (default 60)")
    parser.add_argument("--still", type=int, default=0, help="Frames the camera stands still first (default 0)")
    parser.add_argument("--view", type=float, default=WINDOW,
                        help=f"Window side at zoom 1 as a fraction of the frame's (default {WINDOW}; 1 with no pan, "
                             "tilt or zoom: the whole frame, still)")
    parser.add_argument("--shake", type=float, default=0.0,
                        help="Std of a handheld jitter added to the path each frame, pixels (default 0)")
    parser.add_argument("--exposure", type=float, default=0.0,
                        help="Brightness swing, a fraction: frames are brightened and darkened by up to this, "
                             "over 3 periods (default 0)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="Output pixels per source pixel (default 1; 0.5: a half-resolution camera)")
    parser.add_argument("--modes", default="off,auto", help="tracking.cmc values to compare (default off,auto)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-pets-pan"), help="Where the video and outputs go")
    parser.add_argument("--backends", default="histogram,mobilenetv2,motion", help="as pets.py")
    parser.add_argument("--peers", default="bytetrack,boxmot-botsort", help="as pets.py ('' for none); run once")
    parser.add_argument("--policies", default="on_demand", help="as pets.py")
    parser.add_argument("--set", action="append", default=[], metavar="[SECTION.]KEY=VALUE",
                        help="as pets.py: an Orion setting for every Orion run; repeatable")
    parser.add_argument("--check-estimate", action="store_true",
                        help="Also compare Orion's frame-to-frame camera motion estimate with the true affine")
    parser.add_argument("--markdown", action="store_true", help="Print the table as Markdown")
    args = parser.parse_args(argv)
    first, last = parse_frame_range(args.frames)
    if last > 400:
        parser.error("--frames: ground truth ends at frame 400")
    if args.zoom < 1.0 or args.period <= 0 or args.still < 0 or not 0 < args.view <= 1 or args.scale <= 0 or args.shake < 0 \
            or not 0 <= args.exposure < 1:
        parser.error("--zoom must be >= 1, --period > 0, --still >= 0, --view in (0, 1], --scale > 0, --shake >= 0 and --exposure in [0, 1)")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(item.split("=", 1)[0].strip() in ("cmc", "tracking.cmc") for item in args.set):
        parser.error("--set cmc: use --modes (each row names its mode)")
    pets = load_script(Path(__file__).with_name("pets.py"))
    for name in (pets.VIDEO, pets.DETECTIONS, pets.GROUND_TRUTH):
        if not (args.data_dir / name).is_file():
            parser.error(f"{args.data_dir / name} not found; DATA_DIR must hold {pets.VIDEO}, {pets.DETECTIONS} and {pets.GROUND_TRUTH}")

    width, height = source_size(args.data_dir / pets.VIDEO)
    path = CameraPath(width, height, args.pan, args.tilt, args.zoom, args.period, args.still, args.view, args.scale,
                      args.shake, args.exposure)
    folder = make_panned(pets, args.data_dir, path, last, args.out / "video")
    rows = []
    for k, mode in enumerate(modes):
        runs = args.out / f"cmc-{mode}"
        pets.main([str(folder), "--frames", f"{first}-{last}", "--out", str(runs), "--backends", args.backends,
                   "--peers", args.peers if k == 0 else "", "--policies", args.policies,
                   *[f"--set={item}" for item in [*args.set, f"cmc={mode}"]]])
        for row in json.loads((runs / "results.json").read_text()):
            orion = row["method"].startswith("orion ")
            rows.append({**row, "cmc": mode if orion else "(own)", "applied": cmc_applied(row["pred"]) if orion else None})
    out_w, out_h = path.output_size
    print(f"\nPETS09-S2L1 frames {first}-{last} filmed by a virtual camera ({out_w}x{out_h} output, view {args.view:g} of "
          f"{width}x{height} at zoom 1, scale {args.scale:g}, "
          f"pan +-{args.pan:g} px, tilt +-{args.tilt:g} px, zoom 1-{args.zoom:g}, period {args.period:g} frames, "
          f"still {args.still}, shake {args.shake:g} px, exposure +-{args.exposure:g}); TrackEval, percent; pHOTA, pIDF1: person-level ground truth; applied: frames Orion "
          f"warped its tracks")
    print((markdown_table if args.markdown else format_table)(rows, COLUMNS))
    if args.check_estimate:
        errors = estimate_errors(folder, pets.VIDEO, path, last)
        done = errors[np.isfinite(errors)]
        print(f"\ncamera motion estimate vs the true affine, frames 2-{last}: {len(done)} estimated, "
              f"{len(errors) - len(done)} without an estimate; error over the view (output px): mean {done.mean():.3f}, "
              f"p95 {np.quantile(done, 0.95):.3f}, max {done.max():.3f}" if len(done) else "\nno camera motion estimate made")
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
