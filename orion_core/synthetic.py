"""Short synthetic videos with exact ground truth, for tests and `orion demo`.

Textured objects (photos from `skimage.data` when scikit-image is installed, procedural patterns
otherwise; with `textures="clothing"`, figures in street colours) move over a static textured
background. The script is fixed, the details come from the seed, so every scene contains the
events a re-identification tracker must survive (ids as with the defaults; events switched off
free their ids for the next role):

* re-entry: object 1 walks out of the right edge and, after a gap longer than a typical tracker
  `max_age` (about 40% of the clip: 61-67 frames of the default 150), comes back from the *left*
  edge lower down, so motion alone cannot link the two tracklets; only appearance can;
* crossing: objects 2 and 3 meet mid-frame; the nearer one (lower in the image, hence bigger and
  drawn in front) hides the other almost entirely (~3% visible) for a few frames, and the hidden
  one then curves away upwards;
* scale change: size follows a perspective rule (objects lower in the image are bigger), and
  object 4 walks from the top of the frame to the bottom (about 1.6x taller at the end).
Objects beyond the fourth wander inside the frame. MOT frame f is the (f-1)-th decoded frame.

Harder cases, each off by default (so the default scenes stay byte-identical per seed):

* `lookalikes=True`: two more objects wearing the *same* texture cross each other mid-frame at
  the same depth (ids right after the crossing pair): appearance cannot tell them apart, only
  motion can, and a re-ID stage must not swap them;
* a crowd: `n_objects` up to 24 (objects beyond the scripted ones wander);
* `camera="pan" | "zoom" | "panzoom"`: a moving camera. The scene lives in a "world" of the frame's
  size; the camera shows a window of it scaled by s >= 1 (a global affine per frame, applied to
  background and objects alike) and GT boxes are transformed the same way, so static background
  moves in the image and every object's image motion includes the camera's.

Replays (`replay_scene`): recorded tracks (e.g. a MOT ground truth such as the TUD sequences in
the `motmetrics` wheel) take the place of the scripted routes, so real paths, speeds and mutual
occlusions go through the same textures, depth order, visibility and detector, optionally at a
lower frame rate (`subsample_tracks`); benchmarks/trajectories.py is built on it. A replay's
detector can be given a real detector's faults (`DetectorFaults`, `REALISTIC_FAULTS`): box noise in
proportion to the box, misses in streaks, one box around two overlapping people, upper-body
duplicates, persistent clutter.

Ground-truth conventions (`gt.txt`, MOT15 `frame,id,left,top,w,h,1,-1,-1,-1`, frames 1-based):
the box is the object's box clipped to the frame; a row exists when at least `MIN_IN_FRAME` of the
box is inside the frame. Occluded objects keep their row with considered=1 (the MOT17 convention):
marking them 0 would, under TrackEval's MOT15 rules, turn a tracker that coasts through the
occlusion into false positives. Their visible fraction is in `SceneInfo.visibility` instead, and
the detector (`det.txt`) only sees objects at least `det_min_visibility` visible.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from dataclasses import replace as dataclasses_replace
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .errors import ConfigError, InputError
from .video import VideoWriter

MIN_IN_FRAME = 0.25  # fraction of a box that must be inside the frame for a GT row
TEXTURE_HEIGHT = 160  # pixels; object textures are prepared once at this height, then resized per frame

# skimage.data images shipped with scikit-image (no download), and the part worth showing,
# as fractions (top, bottom, left, right); each is cropped further to the object's aspect ratio.
PHOTOS: dict[str, tuple[float, float, float, float]] = {
    "astronaut": (0.0, 0.9, 0.2, 0.75),
    "coffee": (0.05, 0.85, 0.2, 0.8),
    "chelsea": (0.0, 1.0, 0.2, 0.75),
    "rocket": (0.0, 1.0, 0.35, 0.7),
    "immunohistochemistry": (0.0, 1.0, 0.0, 1.0),
    "retina": (0.15, 0.85, 0.2, 0.8),
    "colorwheel": (0.0, 1.0, 0.1, 0.9),
    "hubble_deep_field": (0.0, 1.0, 0.0, 1.0),
}
PATTERNS = ("stripes", "checker", "rings", "diagonal", "dots")
TEXTURE_MODES = ("auto", "photos", "procedural", "clothing")
GROUND = (128, 132, 118)  # the background's grey-green (RGB): apart from the object textures

# `textures="clothing"`: people as a street shows them, so that appearance is weak evidence. Each
# figure is a head, a top and trousers over the ground's grey, with colours drawn from palettes
# where dark and neutral garments dominate (RGB, weight), so that several people in a crowd wear
# nearly the same colours, as in the held-out street scenes; photos and patterns are far easier.
CLOTHING_TOPS: tuple[tuple[tuple[int, int, int], float], ...] = (
    ((28, 28, 30), 0.24), ((70, 70, 74), 0.14), ((34, 40, 70), 0.12), ((120, 120, 118), 0.08),
    ((92, 64, 44), 0.08), ((190, 175, 145), 0.08), ((225, 225, 220), 0.08), ((150, 36, 40), 0.06),
    ((46, 80, 52), 0.05), ((60, 100, 160), 0.07),
)
CLOTHING_BOTTOMS: tuple[tuple[tuple[int, int, int], float], ...] = (
    ((25, 25, 28), 0.35), ((40, 55, 90), 0.33), ((90, 90, 92), 0.15), ((170, 155, 125), 0.10),
    ((80, 60, 45), 0.07),
)
SKIN = ((224, 188, 160), (198, 150, 120), (150, 105, 80), (95, 65, 50))
HAIR = ((20, 18, 16), (60, 40, 25), (120, 90, 55), (170, 170, 165))
MAX_OBJECTS = 24  # a crowd: 10+ objects is a case the benchmarks use
CAMERAS = ("static", "pan", "zoom", "panzoom")
EXPOSURE_PERIOD_S = 4.0  # one brightness cycle of `replay_scene(exposure=...)`: TUD-Campus (2.8 s) sees most of one
PAN_ZOOM = 1.5  # camera scale while panning: the window is 1/1.5 of the world, so it has room to move


@dataclass(frozen=True)
class ReentryEvent:
    """An object absent from the ground truth for a while (frames 1-based)."""

    object_id: int
    left_frame: int  # last frame with a GT row before the absence
    reentered_frame: int  # first frame with a GT row after it
    exit_side: str  # image edge nearest the box at left_frame: left/right/top/bottom
    entry_side: str

    @property
    def gap(self) -> int:
        """Frames without a GT row in between."""
        return self.reentered_frame - self.left_frame - 1


@dataclass(frozen=True)
class CrossingEvent:
    """Two objects whose paths cross; `back_id` is partly hidden from first_frame to last_frame."""

    front_id: int
    back_id: int
    first_frame: int
    last_frame: int
    min_visibility: float  # smallest visible fraction of the back object's box


@dataclass
class SceneInfo:
    """Where a synthetic scene was written and what happens in it."""

    out_dir: Path
    video_path: Path | None  # None when made with video=False
    gt_path: Path
    det_path: Path
    scene_path: Path  # scene.json: this object, for tools that did not make the scene
    frames: int
    fps: float
    size: tuple[int, int]  # (width, height)
    seed: int
    textures: dict[int, str]  # object id -> photo or pattern name
    reentries: list[ReentryEvent]
    crossings: list[CrossingEvent]
    visibility: dict[tuple[int, int], float] = field(repr=False)  # (frame, id) -> visible fraction
    camera: str = "static"
    lookalike_ids: list[int] = field(default_factory=list)  # the two objects sharing one texture
    det_faults: dict[str, Any] | None = None  # `DetectorFaults` of det.txt (replays), None = the clean detector
    exposure: float = 0.0  # the camera's brightness swing (replays): 1 +- this, one cycle per EXPOSURE_PERIOD_S
    white_balance: float = 0.0  # the camera's colour swing (replays): red 1 +- this, blue 1 -+ this, same cycle

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("out_dir", "video_path", "gt_path", "det_path", "scene_path"):
            out[key] = None if out[key] is None else str(out[key])
        out["visibility"] = [[f, i, round(v, 4)] for (f, i), v in sorted(self.visibility.items())]
        out["reentries"] = [{**asdict(e), "gap": e.gap} for e in self.reentries]
        return out


@dataclass
class _Route:
    """Planned motion of one object: legs of (t, u, v) keyframes, t in [0, 1] of the clip,
    (u, v) the box centre as fractions of the frame. The object is absent between legs."""

    object_id: int
    legs: list[list[tuple[float, float, float]]]
    height: float  # box height as a fraction of frame height, at v = 0.5
    aspect: float  # width / height
    role: str  # reentry | crossing | approach | wander

    def box(self, t: float, width: int, height: int) -> tuple[int, int, int, int] | None:
        """Unclipped integer box (x0, y0, x1, y1) at time t, or None while absent."""
        for leg in self.legs:
            if leg[0][0] <= t <= leg[-1][0]:
                times = [k[0] for k in leg]
                u = float(np.interp(t, times, [k[1] for k in leg]))
                v = float(np.interp(t, times, [k[2] for k in leg]))
                h = max(4, round(self.height * height * _perspective(v)))
                w = max(3, round(self.aspect * h))
                x0, y0 = round(u * width - w / 2), round(v * height - h / 2)
                return x0, y0, x0 + w, y0 + h
        return None


def _perspective(v: float) -> float:
    """Size factor for a centre at height fraction v: a ground plane seen from above and ahead."""
    return 0.6 + 0.8 * v


def make_scene(
    out_dir: str | Path,
    seed: int = 0,
    n_objects: int = 4,
    frames: int = 150,
    size: tuple[int, int] = (480, 360),
    reentry: bool = True,
    crossing: bool = True,
    det_jitter: float = 2.0,
    det_dropout: float = 0.05,
    det_false_positives: float = 0.02,
    det_min_visibility: float = 0.5,
    fps: float = 15.0,
    textures: str = "auto",
    video: bool = True,
    lookalikes: bool = False,
    camera: str = "static",
) -> SceneInfo:
    """Write video.mp4, gt.txt, det.txt and scene.json into out_dir; same seed, same scene.

    gt.txt, det.txt, scene.json and the rendered frames are byte-identical per seed; video.mp4 is
    encoded with one encoder thread, yet encodes of identical frames were seen to differ by about
    one level within one test session, so its pixels are promised up to the codec, not its bytes.

    Detections (`det.txt`, `frame,-1,left,top,w,h,score,-1,-1,-1`): each GT box whose visible
    fraction is at least `det_min_visibility` is dropped with probability `det_dropout`, else its
    edges move by N(0, det_jitter) pixels; `det_false_positives` extra boxes per true detection
    (on average) land on background. Detection noise has its own random stream, so changing it
    leaves the video and gt.txt unchanged. `textures`: auto | photos | procedural | clothing
    (people in street colours, where appearance is weak evidence: `CLOTHING_TOPS`).
    `video=False` skips encoding (ground truth and detections are still exact).
    `lookalikes` and `camera` add the harder cases described in the module docstring.
    """
    width, height = _check_args(n_objects, frames, size, det_jitter, det_dropout,
                                det_false_positives, det_min_visibility, fps, textures)
    if camera not in CAMERAS:
        raise ConfigError(f"make_scene: camera must be one of {', '.join(CAMERAS)}, got {camera!r}.")
    out = _scene_folder(out_dir)
    layout_rng, background_rng, texture_rng, det_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    # the harder cases draw from their own stream: the default scenes' streams stay as they were
    extra_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(101,)))
    routes = _plan(layout_rng, n_objects, reentry, crossing, extra_rng if lookalikes else None)
    names, images = _object_textures(texture_rng, routes, textures)
    background = _background(background_rng, width, height)

    times = [index / (frames - 1) for index in range(frames)]
    gt_rows, visibility, in_frame = _render_frames(
        out / "video.mp4" if video else None, fps, background, images,
        ((index + 1, {r.object_id: r.box(t, width, height) for r in routes}, _camera_at(camera, t))
         for index, t in enumerate(times)),
    )
    det_lines = _detections(det_rng, gt_rows, visibility, width, height, det_jitter, det_dropout,
                            det_false_positives, det_min_visibility)
    info = SceneInfo(
        out_dir=out,
        video_path=out / "video.mp4" if video else None,
        gt_path=out / "gt.txt",
        det_path=out / "det.txt",
        scene_path=out / "scene.json",
        frames=frames,
        fps=float(fps),
        size=(width, height),
        seed=seed,
        textures=names,
        reentries=_reentries(gt_rows, width, height),
        crossings=_crossings(gt_rows, visibility, in_frame, routes),
        visibility=visibility,
        camera=camera,
        lookalike_ids=[r.object_id for r in routes if r.role == "lookalike"],
    )
    return _write_scene(info, gt_rows, det_lines)


def _check_args(n_objects: int, frames: int, size: tuple[int, int], det_jitter: float,
                det_dropout: float, det_false_positives: float, det_min_visibility: float,
                fps: float, textures: str) -> tuple[int, int]:
    if not isinstance(frames, int) or frames < 30:
        raise ConfigError(f"make_scene: frames must be an integer >= 30 (the scripted events need room), "
                          f"got {frames!r}.")
    if not isinstance(n_objects, int) or not 1 <= n_objects <= MAX_OBJECTS:
        raise ConfigError(f"make_scene: n_objects must be 1..{MAX_OBJECTS}, got {n_objects!r}.")
    return _check_render_args("make_scene", size, det_jitter, det_dropout, det_false_positives,
                              det_min_visibility, fps, textures)


def _check_render_args(who: str, size: tuple[int, int], det_jitter: float, det_dropout: float,
                       det_false_positives: float, det_min_visibility: float, fps: float,
                       textures: str) -> tuple[int, int]:
    """The checks every scene (scripted or replayed) needs; returns (width, height)."""
    try:
        width, height = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ConfigError(f"{who}: size must be (width, height), got {size!r}.") from None
    if width < 96 or height < 96 or width % 2 or height % 2:
        raise ConfigError(f"{who}: size {size!r} must be even and at least 96x96 "
                          "(the mp4 encoder needs even sizes).")
    for name, value in (("det_dropout", det_dropout), ("det_false_positives", det_false_positives),
                        ("det_min_visibility", det_min_visibility)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{who}: {name} must be in [0, 1], got {value!r}.")
    if det_jitter < 0 or fps <= 0:
        raise ConfigError(f"{who}: det_jitter must be >= 0 and fps > 0, got {det_jitter!r}, {fps!r}.")
    if textures not in TEXTURE_MODES:
        raise ConfigError(f"{who}: textures must be {', '.join(TEXTURE_MODES[:-1])} or {TEXTURE_MODES[-1]}, "
                          f"got {textures!r}.")
    return width, height


def _scene_folder(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create scene folder {out}: {exc.strerror or exc}.") from None
    return out


FrameBoxes = tuple[int, dict[int, "tuple[int, int, int, int] | None"], "tuple[float, float, float] | None"]


def _render_frames(video_path: Path | None, fps: float, background: np.ndarray, textures: dict[int, np.ndarray],
                   frames: Iterable[FrameBoxes], exposure: float = 0.0,
                   white_balance: float = 0.0) -> tuple[list[tuple[int, int, int, int, int, int]],
                                                          dict[tuple[int, int], float], dict[tuple[int, int], float]]:
    """Render (and, with `video_path`, encode) each (MOT frame, boxes, camera) of `frames`.

    Returns the GT rows (frame, id, x, y, w, h) and each (frame, id)'s visible and in-frame
    fractions. The video appears only when every frame was written (discarded otherwise).
    `exposure` scales each frame's pixels by 1 + exposure * sin(2 pi t / EXPOSURE_PERIOD_S), as
    auto-exposure or passing clouds do (the boxes, and so the detections, are unchanged).
    `white_balance` also scales red by 1 + white_balance * sin and blue by 1 - white_balance * sin
    over the same cycle, as a camera's auto white balance drifting warmer and cooler does.
    """
    gt_rows: list[tuple[int, int, int, int, int, int]] = []
    visibility: dict[tuple[int, int], float] = {}
    in_frame: dict[tuple[int, int], float] = {}
    writer = VideoWriter(video_path, fps, deterministic=True) if video_path is not None else None
    complete = False
    try:
        for number, boxes, camera in frames:
            image, rows = _render(background, boxes, textures, camera)
            for object_id, box, visible, inside in rows:
                gt_rows.append((number, object_id, *box))
                visibility[(number, object_id)] = visible
                in_frame[(number, object_id)] = inside
            if writer is not None:
                if exposure or white_balance:
                    swing = math.sin(2.0 * math.pi * (number - 1) / (fps * EXPOSURE_PERIOD_S))
                    gain = (1.0 + exposure * swing) * np.array([1.0 + white_balance * swing, 1.0, 1.0 - white_balance * swing])
                    image = np.clip(np.rint(image * gain), 0, 255).astype(np.uint8)
                writer.write(image)
        complete = True
    finally:
        if writer is not None:
            writer.close() if complete else writer.discard()
    return gt_rows, visibility, in_frame


def _write_scene(info: SceneInfo, gt_rows: list[tuple[int, int, int, int, int, int]], det_lines: list[str]) -> SceneInfo:
    """gt.txt, det.txt and scene.json, each written to a temporary name and renamed."""
    _write_text(info.gt_path, "".join(f"{f},{i},{x},{y},{w},{h},1,-1,-1,-1\n" for f, i, x, y, w, h in gt_rows))
    _write_text(info.det_path, "".join(line + "\n" for line in det_lines))
    _write_text(info.scene_path, json.dumps(info.to_dict(), indent=1) + "\n")
    return info


def _plan(rng: np.random.Generator, n_objects: int, reentry: bool, crossing: bool,
          lookalike_rng: np.random.Generator | None = None) -> list[_Route]:
    """The script: which object does what, with seed-dependent offsets that keep every event."""

    def j(scale: float = 0.03) -> float:
        return float(rng.uniform(-scale, scale))

    plans: list[tuple[str, list[list[tuple[float, float, float]]], float]] = []
    if reentry:
        t_exit, t_back = 0.3 + j(0.02), 0.6 + j(0.02)
        plans.append(("reentry", [
            [(0.0, 0.45 + j(), 0.3 + j()), (t_exit, 1.2, 0.25 + j())],
            [(t_back, -0.12, 0.78 + j()), (1.0, 0.4 + j(), 0.64 + j())],
        ], 0.27))
    if crossing:
        mu, mv = 0.5 + j(), 0.55 + j(0.02)  # where the hidden object is when the two meet
        plans.append(("crossing", [[(0.0, 0.04, 0.6 + j()), (0.5, mu, mv + 0.05), (1.0, 0.97, 0.6 + j())]], 0.34))
        plans.append(("crossing", [[(0.0, 0.93, 0.42 + j()), (0.5, mu, mv), (1.0, 0.2 + j(), 0.3 + j(0.02))]], 0.27))
    if lookalike_rng is not None:
        # same depth (same size), opposite directions, meeting mid-frame at t = 0.5
        mv = 0.45 + float(lookalike_rng.uniform(-0.03, 0.03))
        dv = float(lookalike_rng.uniform(0.04, 0.08))
        plans.append(("lookalike", [[(0.0, 0.08, mv - dv), (1.0, 0.92, mv + dv)]], 0.27))
        plans.append(("lookalike", [[(0.0, 0.92, mv - dv), (1.0, 0.08, mv + dv)]], 0.27))
    if len(plans) > n_objects:
        raise ConfigError(f"make_scene: n_objects={n_objects} is too few for the scripted events "
                          f"(re-entry needs 1, crossing 2, lookalikes 2); use n_objects >= {len(plans)}.")
    if len(plans) < n_objects:  # far (top, small) to near (bottom, big)
        plans.append(("approach", [[(0.0, 0.82 + j(), 0.22), (1.0, 0.7 + j(), 0.8)]], 0.27))
    while len(plans) < n_objects:
        a, b, c = (rng.uniform([0.12, 0.25], [0.88, 0.8]) for _ in range(3))
        plans.append(("wander", [[(0.0, *a), (0.5 + j(0.1), *b), (1.0, *c)]], float(rng.uniform(0.22, 0.3))))
    return [
        _Route(object_id=i + 1, legs=legs, height=h, role=role,
               aspect=0.6 if role != "wander" else float(rng.uniform(0.5, 0.75)))
        for i, (role, legs, h) in enumerate(plans)
    ]


def _object_textures(rng: np.random.Generator, routes: "list[_Route] | list[_ReplayTrack]",
                     mode: str) -> tuple[dict[int, str], dict[int, np.ndarray]]:
    """One RGB texture per object: photos first (shuffled by seed), then patterns, all distinct;
    or, with `clothing`, a figure in colours drawn from street palettes (near-repeats likely)."""
    photos: list[str] = []
    if mode in ("auto", "photos"):
        try:
            import skimage.data  # noqa: F401  (optional: not a core dependency)
        except ImportError:
            if mode == "photos":
                raise ConfigError("make_scene: textures='photos' needs scikit-image (pip install scikit-image); "
                                  "use textures='procedural' or 'auto'.") from None
        else:
            photos = [str(p) for p in rng.permutation(list(PHOTOS))]
    names: dict[int, str] = {}
    images: dict[int, np.ndarray] = {}
    if mode == "clothing":
        for route in routes:
            names[route.object_id] = f"clothing-{route.object_id}"
            images[route.object_id] = _clothing_texture(rng, route.aspect)
    twins = [r.object_id for r in routes if r.role == "lookalike"]
    # look-alikes come in consecutive pairs; the second of each pair wears the first one's texture
    twin_of = {b: a for a, b in zip(twins[0::2], twins[1::2])}
    for k, route in enumerate(routes):
        if route.object_id in twin_of:
            first = twin_of[route.object_id]
            names[route.object_id] = f"{names[first]}-twin"
            images[route.object_id] = images[first]
            continue
        if mode == "clothing":
            continue
        if k < len(photos):
            names[route.object_id] = photos[k]
            images[route.object_id] = _photo_texture(photos[k], route.aspect)
        else:
            pattern = PATTERNS[(k - len(photos)) % len(PATTERNS)]
            hue = (k * 0.37 + rng.uniform(0, 0.1)) % 1.0  # golden-ish spacing keeps hues apart
            names[route.object_id] = f"{pattern}-{k + 1}"
            images[route.object_id] = _pattern_texture(pattern, hue, route.aspect)
    return names, images


def _photo_texture(name: str, aspect: float) -> np.ndarray:
    import cv2
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())[..., :3]
    top, bottom, left, right = PHOTOS[name]
    h, w = image.shape[:2]
    region = image[int(top * h): int(bottom * h), int(left * w): int(right * w)]
    rh, rw = region.shape[:2]
    if rw / rh > aspect:  # centre-crop the region to the object's aspect ratio
        cw = int(rh * aspect)
        region = region[:, (rw - cw) // 2: (rw - cw) // 2 + cw]
    else:
        ch = int(rw / aspect)
        region = region[(rh - ch) // 2: (rh - ch) // 2 + ch]
    size = (round(TEXTURE_HEIGHT * aspect), TEXTURE_HEIGHT)
    return np.ascontiguousarray(cv2.resize(region, size, interpolation=cv2.INTER_AREA))


def _pattern_texture(pattern: str, hue: float, aspect: float) -> np.ndarray:
    import cv2

    h = TEXTURE_HEIGHT
    w = round(h * aspect)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if pattern == "stripes":
        level = (y // 16) % 2
    elif pattern == "checker":
        level = ((y // 20) + (x // 20)) % 2
    elif pattern == "rings":
        level = (np.hypot(x - w / 2, y - h / 2) // 12) % 2
    elif pattern == "diagonal":
        level = ((x + y) // 14) % 2
    else:
        level = ((np.hypot((x % 24) - 12, (y % 24) - 12) < 7)).astype(np.float32)
    hsv = np.empty((h, w, 3), np.uint8)
    hsv[..., 0] = (int(hue * 180) + 25 * level) % 180  # two hues, not just two shades
    hsv[..., 1] = 200
    hsv[..., 2] = 90 + 150 * level
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _clothing_texture(rng: np.random.Generator, aspect: float) -> np.ndarray:
    """A person over the ground's grey: head (hair, skin), a top, two trouser legs, with soft
    shading and grain. Like a detector's box, the texture includes the ground beside the body."""
    h = TEXTURE_HEIGHT
    w = max(8, round(h * aspect))

    def pick(palette: tuple[tuple[tuple[int, int, int], float], ...]) -> np.ndarray:
        weights = np.array([weight for _, weight in palette])
        colour = np.array(palette[int(rng.choice(len(palette), p=weights / weights.sum()))][0], np.float32)
        return np.clip(colour + rng.normal(0, 8, 3), 0, 255)

    top, bottom = pick(CLOTHING_TOPS), pick(CLOTHING_BOTTOMS)
    skin = np.array(SKIN[int(rng.integers(len(SKIN)))], np.float32)
    hair = np.array(HAIR[int(rng.integers(len(HAIR)))], np.float32)
    image = np.empty((h, w, 3), np.float32)
    image[:] = np.array(GROUND, np.float32)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cx = w / 2 + rng.uniform(-0.04, 0.04) * w
    head = ((x - cx) / (0.13 * w)) ** 2 + ((y - 0.085 * h) / (0.075 * h)) ** 2 <= 1.0
    image[head] = skin
    image[head & (y < 0.06 * h)] = hair
    torso_half = rng.uniform(0.26, 0.36) * w
    waist = rng.uniform(0.5, 0.58) * h
    torso = (np.abs(x - cx) <= torso_half) & (y >= 0.16 * h) & (y < waist)
    image[torso] = top
    leg_gap = 0.04 * w
    legs = (np.abs(x - cx) <= torso_half * 0.85) & (np.abs(x - cx) >= leg_gap) & (y >= waist)
    image[legs] = bottom
    image *= (1.08 - 0.16 * y / h)[..., None]  # light from above
    image += rng.normal(0, 5, size=(h, w, 1)).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Static ground: muted blotches, paving lines and grain (texture, but nothing object-like)."""
    import cv2

    cells = (height // 48 + 2, width // 48 + 2)
    shade = rng.uniform(-30, 30, size=(*cells, 1))  # brightness blotches
    tint = rng.uniform(-8, 8, size=(*cells, 3))  # and a little colour, kept muted
    base = np.array(GROUND, np.float32)
    coarse = (base + shade + tint).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    image += rng.normal(0, 4, size=(height, width, 1)).astype(np.float32)
    image = np.clip(image, 0, 255).astype(np.uint8)
    step = max(24, width // 12)
    for x in range(-width, 2 * width, step):  # converging lines: a cheap sense of depth
        cv2.line(image, (x, height), (width // 2 + (x - width // 2) // 3, 0), (60, 70, 60), 1, cv2.LINE_AA)
    for y in np.geomspace(8, height, 9).astype(int):
        cv2.line(image, (0, int(y)), (width, int(y)), (60, 70, 60), 1, cv2.LINE_AA)
    return image


def _camera_at(camera: str, t: float) -> tuple[float, float, float] | None:
    """(scale s >= 1, fx, fy) at time t: the window shows 1/s of the world, its origin at (fx, fy)
    of the room the world leaves around it. None for a static camera (the window is the world).

    One smooth sweep out and back: the fastest image motion comes mid-sweep, about 5 px per
    frame at 15 fps and 150 frames (480x360), twice that at 7 fps.
    """
    if camera == "static":
        return None
    sweep = 0.5 - 0.5 * float(np.cos(2.0 * np.pi * t))  # 0 -> 1 -> 0
    if camera == "pan":
        return PAN_ZOOM, sweep, 0.5 + 0.3 * float(np.sin(2.0 * np.pi * t))
    if camera == "zoom":
        return 1.0 + 0.6 * sweep, 0.5, 0.5
    return 1.2 + 0.4 * sweep, sweep, 0.5  # panzoom


def _render(background: np.ndarray, boxes: dict[int, tuple[int, int, int, int] | None],
            textures: dict[int, np.ndarray], camera: tuple[float, float, float] | None = None,
            ) -> tuple[np.ndarray, list[tuple[int, tuple[int, int, int, int], float, float]]]:
    """One RGB frame (painter's order) plus its GT rows: id, clipped xywh box, and the fractions
    of the full box that are visible and that are inside the frame (`camera`: see `_camera_at`).

    `boxes`: object id -> its unclipped integer (x0, y0, x1, y1) box this frame, None while absent.
    Scripted routes and replayed tracks (`replay_scene`) both come here, so both get the same
    depth order, clipping and visibility rules."""
    import cv2

    height, width = background.shape[:2]
    image = background.copy()
    owner = np.zeros((height, width), np.int32)  # which object each pixel shows (0 = ground)
    present = sorted((b[3], i) for i, b in boxes.items() if b is not None)  # lower edge = nearer
    clipped: dict[int, tuple[int, int, int, int]] = {}
    for _, object_id in present:
        x0, y0, x1, y1 = boxes[object_id]
        cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        texture = textures[object_id]
        interp = cv2.INTER_AREA if y1 - y0 < texture.shape[0] else cv2.INTER_LINEAR
        full = cv2.resize(texture, (x1 - x0, y1 - y0), interpolation=interp)
        image[cy0:cy1, cx0:cx1] = full[cy0 - y0: cy1 - y0, cx0 - x0: cx1 - x0]
        owner[cy0:cy1, cx0:cx1] = object_id
        clipped[object_id] = (cx0, cy0, cx1, cy1)
    if camera is not None:
        return _camera_view(image, owner, boxes, sorted(clipped), camera)
    pixels = np.bincount(owner.ravel(), minlength=max(boxes) + 1)
    rows = []
    for object_id, (cx0, cy0, cx1, cy1) in sorted(clipped.items()):
        x0, y0, x1, y1 = boxes[object_id]
        area = (x1 - x0) * (y1 - y0)
        inside = (cx1 - cx0) * (cy1 - cy0) / area
        if inside >= MIN_IN_FRAME:
            rows.append((object_id, (cx0, cy0, cx1 - cx0, cy1 - cy0), float(pixels[object_id] / area), inside))
    return image, rows


def _camera_view(world: np.ndarray, owner: np.ndarray, boxes: dict[int, tuple[int, int, int, int] | None],
                 present: list[int], camera: tuple[float, float, float],
                 ) -> tuple[np.ndarray, list[tuple[int, tuple[int, int, int, int], float, float]]]:
    """What a camera sees of the rendered world: x_image = s * (x_world - ox), same for y."""
    import cv2

    height, width = world.shape[:2]
    scale, fx, fy = camera
    ox, oy = fx * (width - width / scale), fy * (height - height / scale)
    affine = np.array([[scale, 0.0, -scale * ox], [0.0, scale, -scale * oy]])
    image = cv2.warpAffine(world, affine, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    # world pixels inside the window, for the visible fractions
    wx0, wy0 = int(np.floor(ox)), int(np.floor(oy))
    wx1, wy1 = int(np.ceil(ox + width / scale)), int(np.ceil(oy + height / scale))
    pixels = np.bincount(owner[wy0:wy1, wx0:wx1].ravel(), minlength=max(boxes) + 1)
    rows = []
    for object_id in present:
        x0, y0, x1, y1 = boxes[object_id]
        ix0, iy0, ix1, iy1 = scale * (x0 - ox), scale * (y0 - oy), scale * (x1 - ox), scale * (y1 - oy)
        cx0, cy0 = max(round(ix0), 0), max(round(iy0), 0)
        cx1, cy1 = min(round(ix1), width), min(round(iy1), height)
        if cx1 <= cx0 or cy1 <= cy0:
            continue
        inside = (cx1 - cx0) * (cy1 - cy0) / ((ix1 - ix0) * (iy1 - iy0))
        if inside >= MIN_IN_FRAME:
            visible = float(pixels[object_id] / ((x1 - x0) * (y1 - y0)))
            rows.append((object_id, (cx0, cy0, cx1 - cx0, cy1 - cy0), min(visible, inside), min(inside, 1.0)))
    return image, rows


def _detections(rng: np.random.Generator, gt_rows: list[tuple[int, int, int, int, int, int]],
                visibility: dict[tuple[int, int], float], width: int, height: int, jitter: float,
                dropout: float, false_positives: float, min_visibility: float) -> list[str]:
    """det.txt lines: noisy copies of the visible GT boxes, then background false positives."""
    dets: list[tuple[int, tuple[float, float, float, float], float]] = []
    by_frame: dict[int, list[tuple[int, int, int, int]]] = {}
    for f, i, x, y, w, h in gt_rows:
        by_frame.setdefault(f, []).append((x, y, w, h))
        seen = visibility[(f, i)]
        if seen < min_visibility or rng.random() < dropout:
            continue
        box = _clipped_xywh(np.array([x, y, x + w, y + h], float) + rng.normal(0.0, jitter, 4), width, height)
        if box is not None:
            dets.append((f, box, _true_score(rng, seen)))
    return _det_lines(rng, dets, by_frame, width, height, false_positives)


def _clipped_xywh(xyxy: np.ndarray, width: int, height: int) -> tuple[float, float, float, float] | None:
    """A detected box clipped to the frame, as (x, y, w, h); None when under 2 px on a side."""
    x0, y0, x1, y1 = max(xyxy[0], 0.0), max(xyxy[1], 0.0), min(xyxy[2], width), min(xyxy[3], height)
    return (x0, y0, x1 - x0, y1 - y0) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def _true_score(rng: np.random.Generator, seen: float) -> float:
    """Detector score of a real object: lower the less of it is visible."""
    return float(np.clip(rng.normal(0.85, 0.06), 0.5, 0.99) * (0.6 + 0.4 * seen))


def _faster_rcnn_score(rng: np.random.Generator, seen: float) -> float:
    """A Faster R-CNN's score of a real object (PETS09's public detections, frames 1-400).

    1 - score is log-normal around 0.02, its spread growing as less of the object shows: medians
    0.97-0.98 at every visibility; 10th percentile 0.93 when fully visible, 0.64-0.70 when 50-95%
    visible. Published detections stop at 0.5.
    """
    spread = 1.0 + 4.0 * (1.0 - min(max(seen, 0.0), 1.0))
    return float(np.clip(1.0 - 0.02 * np.exp(rng.normal(0.0, spread)), 0.5, 0.999))


def _det_lines(rng: np.random.Generator, dets: list[tuple[int, tuple[float, float, float, float], float]],
               gt_by_frame: dict[int, list[tuple[int, int, int, int]]], width: int, height: int,
               false_positives: float) -> list[str]:
    """`dets` plus background false positives (`false_positives` per detection), as det.txt lines."""
    frames = sorted(gt_by_frame)
    for _ in range(int(rng.poisson(false_positives * len(dets))) if frames else 0):
        f = int(rng.choice(frames))
        box = _background_box(rng, gt_by_frame[f], width, height)
        if box is not None:
            dets.append((f, box, float(rng.uniform(0.3, 0.7))))
    dets.sort(key=lambda d: d[0])  # stable: within a frame, true boxes come first
    return [f"{f},-1,{x:.1f},{y:.1f},{w:.1f},{h:.1f},{score:.3f},-1,-1,-1" for f, (x, y, w, h), score in dets]


@dataclass(frozen=True)
class DetectorFaults:
    """What a real detector does that the clean simulated one does not (all off by default).

    The clean detector misses only hidden objects plus independent 5% dropouts, and jitters
    edges by a couple of pixels. Public detections (DPM, Faster R-CNN on MOT15/16) also:

    * `scale_jitter`: move the left/right edges by N(0, scale_jitter * box width) and the top/bottom
      edges by N(0, scale_jitter * box height), on top of `det_jitter`;
    * `miss_streak`: miss in streaks (a person turned sideways, motion blur) of this mean length
      in *seconds*, so the same walk misses the same stretch at any frame rate; the long-run
      miss fraction stays `det_dropout`;
    * `merges`: when two visible people overlap (IoU >= 0.3), report one box around both with
      this probability per frame;
    * `duplicates`: a second, smaller box on the same person (the upper body, 55-80% of the
      height) with this probability per detection;
    * `clutter`: this many fixed background spots (a bin, a sign) that look like a person and are
      detected on 30% of the frames, each at its own place for the whole clip;
    * `scale_jitter_x`: the left/right edges' share instead of `scale_jitter` (a walker's legs and
      arms change a box's width far more than its height);
    * `miss_fraction`: the long-run miss fraction of a fully visible object, instead of the scene's
      `det_dropout`;
    * `occluded_detect`: the chance per frame that a partly hidden object (visible fraction under
      `FULLY_VISIBLE`, above the scene's `det_min_visibility`) is detected at all: non-maximum
      suppression drops many boxes that overlap a nearer person's;
    * `faster_rcnn_scores`: scores as a Faster R-CNN's (most near 1, a longer low tail the less of
      the object shows, none under 0.5) instead of the generator's (about 0.85 x visibility);
    * `wide_duplicates`: the second box is a wider one beside the person (one that takes in some
      background or a neighbour) instead of the upper body.
    """

    scale_jitter: float = 0.0
    miss_streak: float = 0.0
    merges: float = 0.0
    duplicates: float = 0.0
    clutter: int = 0
    scale_jitter_x: float | None = None
    miss_fraction: float | None = None
    occluded_detect: float = 1.0
    faster_rcnn_scores: bool = False
    wide_duplicates: bool = False

    def active(self) -> bool:
        return any((self.scale_jitter, self.miss_streak, self.merges, self.duplicates, self.clutter,
                    self.scale_jitter_x is not None, self.miss_fraction is not None, self.occluded_detect < 1.0,
                    self.faster_rcnn_scores, self.wide_duplicates))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Harder than any one real detector on purpose: every fault at once (benchmarks/trajectories.py
# --detector realistic). Not fitted to any sequence.
REALISTIC_FAULTS = DetectorFaults(scale_jitter=0.05, miss_streak=0.2, merges=0.3, duplicates=0.05, clutter=2)

# A detector's faults as measured, not chosen: SORT's published Faster R-CNN detections of
# PETS09-S2L1 (../shared/data) against its ground truth, frames 1-400. MOT15's TUD sequences (what
# the replays stand in for) have public detections from the same release. Measured there (IoU >= 0.4
# is a match): frame-to-frame edge noise 14.5% of the width left/right and 5.7% of the height
# top/bottom; 12% of fully visible people missed, in streaks of 0.43 s; people 50-95% visible
# found on 55% of the frames (non-maximum suppression); scores near 1 (median 0.98); 0.034 extra
# boxes beside a found person, wider ones. The values below are those that make replays measure
# the same (`benchmarks/detector_faults.py` prints both side by side): the measured misses include
# boxes too far off to match, and streaks are cut by occlusions, hence a lower miss_fraction and a
# longer miss_streak than measured. Merged pairs cannot be told from a nearer person's box in that
# ground truth, so `merges` keeps REALISTIC_FAULTS' rate; the detections that match no one there
# are mostly far people the ground truth leaves out, so no clutter.
FITTED_FAULTS = DetectorFaults(scale_jitter=0.05, scale_jitter_x=0.125, miss_streak=1.0, miss_fraction=0.11,
                               occluded_detect=0.68, merges=0.3, duplicates=0.06, faster_rcnn_scores=True,
                               wide_duplicates=True)
FULLY_VISIBLE = 0.95  # visible fraction above which `occluded_detect` does not apply


def _check_faults(who: str, faults: DetectorFaults) -> None:
    for name in ("scale_jitter", "miss_streak", "merges", "duplicates", "scale_jitter_x", "miss_fraction",
                 "occluded_detect"):
        value = getattr(faults, name)
        if value is None and name in ("scale_jitter_x", "miss_fraction"):
            continue
        probability = name in ("merges", "duplicates", "miss_fraction", "occluded_detect")
        if not isinstance(value, (int, float)) or value < 0 or (probability and value > 1):
            raise ConfigError(f"{who}: det_faults.{name} must be >= 0 (and <= 1 for a probability), got {value!r}.")
    if not isinstance(faults.clutter, int) or not 0 <= faults.clutter <= 20:
        raise ConfigError(f"{who}: det_faults.clutter must be an integer 0..20, got {faults.clutter!r}.")


def _faulty_detections(rng: np.random.Generator, gt_rows: list[tuple[int, int, int, int, int, int]],
                       visibility: dict[tuple[int, int], float], width: int, height: int, fps: float,
                       jitter: float, dropout: float, false_positives: float, min_visibility: float,
                       faults: DetectorFaults, in_frame: dict[tuple[int, int], float]) -> list[str]:
    """det.txt lines like `_detections`, with `faults` added (see `DetectorFaults`).

    `in_frame`: each box's share inside the frame; `occluded_detect` asks how much of the part in
    the frame others hide (a person cut by the frame's edge is not hidden behind anyone).
    """
    by_frame: dict[int, list[tuple[int, int, int, int, int]]] = {}
    for f, i, x, y, w, h in gt_rows:
        by_frame.setdefault(f, []).append((i, x, y, w, h))
    if faults.miss_fraction is not None:
        dropout = faults.miss_fraction
    streak = max(faults.miss_streak * fps, 1.0)  # frames
    end_miss = 1.0 / streak  # a two-state chain: P(miss -> seen) = 1/streak keeps the mean length
    start_miss = min(dropout * end_miss / max(1.0 - dropout, 1e-9), 1.0)  # and the miss fraction
    missing: dict[int, bool] = {}
    clutter = [b for b in (_background_box(rng, [], width, height) for _ in range(faults.clutter)) if b is not None]
    dets: list[tuple[int, tuple[float, float, float, float], float]] = []

    share_x = faults.scale_jitter if faults.scale_jitter_x is None else faults.scale_jitter_x

    def noisy(box: tuple[float, float, float, float]) -> tuple[float, float, float, float] | None:
        x, y, w, h = box
        sigma = jitter + np.array([share_x * w, faults.scale_jitter * h] * 2)  # each edge in proportion to its side
        return _clipped_xywh(np.array([x, y, x + w, y + h], float) + rng.normal(0.0, 1.0, 4) * sigma, width, height)

    def object_score(seen_fraction: float) -> float:
        if not faults.faster_rcnn_scores:
            return _true_score(rng, seen_fraction)
        return _faster_rcnn_score(rng, seen_fraction)

    for f in sorted(by_frame):
        seen = []
        for i, x, y, w, h in by_frame[f]:
            was = missing.get(i, False)
            missing[i] = rng.random() >= end_miss if was else rng.random() < start_miss
            hidden = (faults.occluded_detect < 1.0
                      and visibility[(f, i)] < FULLY_VISIBLE * max(in_frame[(f, i)], 1e-9)
                      and rng.random() >= faults.occluded_detect)
            if visibility[(f, i)] >= min_visibility and not missing[i] and not hidden:
                seen.append((i, (float(x), float(y), float(w), float(h)), visibility[(f, i)]))
        merged: set[int] = set()
        boxes: list[tuple[tuple[float, float, float, float], float]] = []
        for n, (i, a, va) in enumerate(seen):
            for j, b, vb in seen[n + 1:]:
                if i in merged or j in merged or _iou(a, b) < 0.3 or rng.random() >= faults.merges:
                    continue
                merged.update((i, j))
                x0, y0 = min(a[0], b[0]), min(a[1], b[1])
                x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
                merged_score = _faster_rcnn_score(rng, 0.8) if faults.faster_rcnn_scores else float(rng.uniform(0.5, 0.8))
                boxes.append(((x0, y0, x1 - x0, y1 - y0), merged_score))
        for i, box, seen_fraction in seen:
            if i in merged:
                continue
            boxes.append((box, object_score(seen_fraction)))
            if rng.random() < faults.duplicates:
                x, y, w, h = box
                if faults.wide_duplicates:  # PETS09's: wider, beside the person (10-90%: 1.0-2.3x, +-0.6 widths)
                    wide = w * float(rng.uniform(1.0, 2.3))
                    centre = x + w / 2 + float(rng.normal(0.0, 0.45)) * w
                    extra = (centre - wide / 2, y, wide, h * float(rng.uniform(0.85, 1.3)))
                    boxes.append((extra, float(rng.uniform(0.55, 0.95))))
                else:
                    boxes.append(((x, y, w, h * float(rng.uniform(0.55, 0.8))), float(rng.uniform(0.4, 0.75))))
        for box in clutter:
            if rng.random() < 0.3:
                boxes.append((box, float(rng.uniform(0.4, 0.8))))
        for box, score in boxes:
            out = noisy(box)
            if out is not None:
                dets.append((f, out, score))
    gt_boxes = {f: [(x, y, w, h) for _, x, y, w, h in rows] for f, rows in by_frame.items()}
    return _det_lines(rng, dets, gt_boxes, width, height, false_positives)


def _background_box(rng: np.random.Generator, gt_boxes: list[tuple[int, int, int, int]],
                    width: int, height: int) -> tuple[float, float, float, float] | None:
    """A plausible object-sized box overlapping no GT box much (IoU < 0.2), or None."""
    for _ in range(20):
        h = float(rng.uniform(0.15, 0.35) * height)
        w = float(rng.uniform(0.45, 0.8) * h)
        x, y = float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h))
        if all(_iou((x, y, w, h), g) < 0.2 for g in gt_boxes):
            return x, y, w, h
    return None


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _reentries(gt_rows: list[tuple[int, int, int, int, int, int]], width: int, height: int) -> list[ReentryEvent]:
    """Every absence between two presences of one id, read back from the GT rows themselves."""
    boxes = {(f, i): (x, y, w, h) for f, i, x, y, w, h in gt_rows}
    events = []
    for object_id in sorted({i for _, i, *_ in gt_rows}):
        frames = sorted(f for f, i, *_ in gt_rows if i == object_id)
        for before, after in zip(frames, frames[1:]):
            if after > before + 1:
                events.append(ReentryEvent(object_id, before, after,
                                           _nearest_side(boxes[(before, object_id)], width, height),
                                           _nearest_side(boxes[(after, object_id)], width, height)))
    return events


def _nearest_side(box: tuple[int, int, int, int], width: int, height: int) -> str:
    x, y, w, h = box
    gaps = {"left": x, "right": width - (x + w), "top": y, "bottom": height - (y + h)}
    return min(gaps, key=gaps.__getitem__)


def _crossings(gt_rows: list[tuple[int, int, int, int, int, int]], visibility: dict[tuple[int, int], float],
               in_frame: dict[tuple[int, int], float], routes: list[_Route]) -> list[CrossingEvent]:
    """The scripted crossing, measured on the rendered frames (who hides whom, when, how much)."""
    pair = [r.object_id for r in routes if r.role == "crossing"]
    if len(pair) != 2:
        return []
    a, b = pair
    boxes = {(f, i): (x, y, w, h) for f, i, x, y, w, h in gt_rows}
    hidden: list[tuple[int, int, float]] = []  # (frame, back id, its visibility)
    for f in sorted({f for f, *_ in gt_rows}):
        if (f, a) in boxes and (f, b) in boxes and _iou(boxes[(f, a)], boxes[(f, b)]) > 0:
            ya, yb = (boxes[(f, k)][1] + boxes[(f, k)][3] for k in (a, b))
            back = b if ya >= yb else a
            if visibility[(f, back)] < in_frame[(f, back)] - 1e-9:
                hidden.append((f, back, visibility[(f, back)]))
    if not hidden:
        return []
    _, back, v_min = min(hidden, key=lambda h: h[2])
    return [CrossingEvent(front_id=a if back == b else b, back_id=back, first_frame=hidden[0][0],
                          last_frame=hidden[-1][0], min_visibility=round(v_min, 4))]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# -- replaying given tracks -----------------------------------------------------------------------
# Real trajectories (e.g. a MOT ground truth) with simulated pixels: the scripted routes above are
# replaced by recorded boxes, and everything downstream (textures, depth order, visibility,
# detections, the files written) stays the generator's, so a replay is scored like any scene.


@dataclass(frozen=True)
class TrackBox:
    """One recorded box of one object: MOT frame (1-based) and left, top, width, height in pixels.

    Boxes may reach outside the frame (MOT ground truths do); rendering clips them."""

    frame: int
    object_id: int
    left: float
    top: float
    width: float
    height: float


@dataclass
class _ReplayTrack:
    """One recorded object, with the attributes `_object_textures` reads from a `_Route`."""

    object_id: int
    boxes: dict[int, tuple[int, int, int, int]]  # output frame -> unclipped integer (x0, y0, x1, y1)
    aspect: float  # median width / height: the texture is cut to it
    role: str = "replay"  # or "lookalike": shares its texture with its pair


def read_track_boxes(path: str | Path) -> list[TrackBox]:
    """Rows of a MOT ground-truth file (`frame,id,left,top,w,h,considered,...`).

    Read by the evaluator's reader (`evaluate.read_mot_file`: bounded, checked, one-line errors),
    with its optional 7th column as the `considered` flag. Rows with considered == 0 are left out:
    in MOT15/16 files they mark boxes that are not pedestrians or not to be scored, and a replay
    would otherwise draw them as people. Files without a 7th column keep every row.
    """
    from .evaluate import read_mot_file

    rows = read_mot_file(path, "pred")  # the layout whose 7th column is optional (read as 1 when absent)
    keep = (rows.flags != 0) & (rows.boxes[:, 2] > 0) & (rows.boxes[:, 3] > 0)
    return [TrackBox(int(frame), int(object_id), *(float(v) for v in box))
            for frame, object_id, box in zip(rows.frames[keep], rows.ids[keep], rows.boxes[keep])]


def subsample_tracks(tracks: list[TrackBox], step: int, phase: int = 0) -> list[TrackBox]:
    """Every `step`-th frame from the first one (+ `phase`), renumbered 1, 2, 3, ...

    A 25 fps recording becomes 12.5 fps with step 2 and 8.3 fps with step 3: the same walkers
    and occlusions, with larger displacements between frames (the regime of PETS at 7 fps).
    """
    if not isinstance(step, int) or step < 1 or not isinstance(phase, int) or not 0 <= phase < step:
        raise ConfigError(f"subsample_tracks: step must be an integer >= 1 and 0 <= phase < step, "
                          f"got step={step!r}, phase={phase!r}.")
    if not tracks:
        return []
    first = min(t.frame for t in tracks) + phase
    return [dataclasses_replace(t, frame=(t.frame - first) // step + 1)
            for t in tracks if t.frame >= first and (t.frame - first) % step == 0]


def lookalike_pairs(tracks: list[TrackBox], count: int) -> list[tuple[int, int]]:
    """`count` disjoint pairs of objects that come closest to each other (centre distance in units
    of their mean height, over the frames both are present), closest first.

    Those are the pairs a tracker can swap; giving them one texture makes appearance useless
    exactly where it is tempted, as the generator's `lookalikes` crossing does.
    """
    by_frame: dict[int, dict[int, TrackBox]] = {}
    for t in tracks:
        by_frame.setdefault(t.frame, {})[t.object_id] = t
    closest: dict[tuple[int, int], float] = {}
    for boxes in by_frame.values():
        ids = sorted(boxes)
        for n, a in enumerate(ids):
            for b in ids[n + 1:]:
                ba, bb = boxes[a], boxes[b]
                dx = (ba.left + ba.width / 2) - (bb.left + bb.width / 2)
                dy = (ba.top + ba.height) - (bb.top + bb.height)  # feet: the ground-plane position
                d = float(np.hypot(dx, dy) / ((ba.height + bb.height) / 2))
                closest[(a, b)] = min(d, closest.get((a, b), np.inf))
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    for (a, b), _ in sorted(closest.items(), key=lambda item: (item[1], item[0])):
        if len(pairs) >= count:
            break
        if a not in used and b not in used:
            pairs.append((a, b))
            used.update((a, b))
    return pairs


def _replay_tracks(tracks: list[TrackBox], pairs: list[tuple[int, int]]) -> list[_ReplayTrack]:
    """Per object: integer boxes by frame and texture aspect; look-alike pairs listed first, in
    pair order, so `_object_textures` gives each pair's second member its first member's texture."""
    boxes: dict[int, dict[int, tuple[int, int, int, int]]] = {}
    ratios: dict[int, list[float]] = {}
    for t in tracks:
        x0, y0 = round(t.left), round(t.top)
        x1, y1 = max(x0 + 3, round(t.left + t.width)), max(y0 + 4, round(t.top + t.height))
        boxes.setdefault(t.object_id, {})[t.frame] = (x0, y0, x1, y1)
        ratios.setdefault(t.object_id, []).append(t.width / t.height)
    twins = [i for pair in pairs for i in pair]
    order = twins + [i for i in sorted(boxes) if i not in twins]
    return [_ReplayTrack(object_id=i, boxes=boxes[i], aspect=float(np.clip(np.median(ratios[i]), 0.25, 1.5)),
                         role="lookalike" if i in twins else "replay") for i in order]


def replay_scene(
    out_dir: str | Path,
    tracks: list[TrackBox],
    size: tuple[int, int],
    fps: float,
    seed: int = 0,
    step: int = 1,
    lookalikes: int = 1,
    det_jitter: float = 2.0,
    det_dropout: float = 0.05,
    det_false_positives: float = 0.02,
    det_min_visibility: float = 0.5,
    textures: str = "auto",
    video: bool = True,
    det_faults: DetectorFaults | None = None,
    exposure: float = 0.0,
    white_balance: float = 0.0,
) -> SceneInfo:
    """Render recorded tracks (e.g. a MOT ground truth) as a scene: same files as `make_scene`.

    Real walkers' paths, speeds, crowding and mutual occlusions, with the generator's pixels and
    detector: each object wears a texture (`lookalikes` pairs of the closest-approaching objects
    share one), objects are drawn far to near (larger box bottom = nearer, drawn last), each
    box's visible fraction is measured on the rendered frame, and `det.txt` is made from it as in
    `make_scene` (objects below `det_min_visibility` are missed, jitter, dropout, false positives).
    `step` > 1 keeps every step-th frame (frame rate `fps / step`). `size` is (width, height) of
    the recording. `seed` picks textures, background and detection noise; the tracks are fixed.
    gt.txt holds the rendered boxes (clipped to the frame, rows at least `MIN_IN_FRAME` inside).
    `det_faults` adds a real detector's faults (`DetectorFaults`, e.g. `REALISTIC_FAULTS`) from
    their own random stream; without it det.txt is exactly the clean detector's. `exposure` in
    [0, 1) swings the frames' brightness by up to that fraction, `white_balance` in [0, 1) their
    red against their blue (`_render_frames`).
    """
    for name, value in (("exposure", exposure), ("white_balance", white_balance)):
        if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
            raise ConfigError(f"replay_scene: {name} must be in [0, 1), got {value!r}.")
    width, height = _check_render_args("replay_scene", size, det_jitter, det_dropout, det_false_positives,
                                       det_min_visibility, fps, textures)
    kept = subsample_tracks(tracks, step)
    if not kept:
        raise InputError("replay_scene: no tracks to replay.")
    out = _scene_folder(out_dir)
    if det_faults is not None:
        _check_faults("replay_scene", det_faults)
    # a fourth stream for the faults: spawn(4)'s first three children are spawn(3)'s
    background_rng, texture_rng, det_rng, fault_rng = (np.random.default_rng(s)
                                                       for s in np.random.SeedSequence(seed).spawn(4))
    objects = _replay_tracks(kept, lookalike_pairs(kept, lookalikes))
    names, images = _object_textures(texture_rng, objects, textures)
    background = _background(background_rng, width, height)
    frames = max(t.frame for t in kept)

    gt_rows, visibility, in_frame = _render_frames(
        out / "video.mp4" if video else None, fps / step, background, images,
        ((frame, {o.object_id: o.boxes.get(frame) for o in objects}, None) for frame in range(1, frames + 1)),
        exposure=exposure, white_balance=white_balance,
    )

    if det_faults is not None and det_faults.active():
        det_lines = _faulty_detections(fault_rng, gt_rows, visibility, width, height, fps / step, det_jitter,
                                       det_dropout, det_false_positives, det_min_visibility, det_faults, in_frame)
    else:
        det_lines = _detections(det_rng, gt_rows, visibility, width, height, det_jitter, det_dropout,
                                det_false_positives, det_min_visibility)
    info = SceneInfo(
        out_dir=out, video_path=out / "video.mp4" if video else None, gt_path=out / "gt.txt",
        det_path=out / "det.txt", scene_path=out / "scene.json", frames=frames, fps=float(fps / step),
        size=(width, height), seed=seed, textures=names, reentries=_reentries(gt_rows, width, height),
        crossings=[], visibility=visibility, lookalike_ids=[o.object_id for o in objects if o.role == "lookalike"],
        det_faults=det_faults.to_dict() if det_faults is not None and det_faults.active() else None,
        exposure=float(exposure), white_balance=float(white_balance),
    )
    return _write_scene(info, gt_rows, det_lines)
