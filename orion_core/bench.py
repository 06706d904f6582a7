"""Measurement logic behind `orion bench` and the scripts in `benchmarks/`.

Three jobs, each small:

* **Embedding throughput** (`bench_embed`): the Orion embedding stage (`VisualEmbedder.encode`
  on crops; `embed_boxes` with crop or region pooling at N boxes per frame) timed against the raw
  model on the same inputs, same batch size, dtype and device, so the ratio is the price of the
  core (cropping, resizing, host<->device copies, validation, L2, region pooling).
* **Re-entry identity** (`score_reentries`): did an object that left and came back get its old
  id? Predicted ids are tied to ground-truth objects by per-frame IoU matching.
* **Running Orion on a video with precomputed detections** (`run_orion`), as `orion run` does.

Raw-baseline convention (what a backend may offer so the baseline is pure model cost): the
object returned by `load_embedder` MAY expose

    prepare(images)         -> model input for a list of RGB uint8 crops (on device, in dtype)
    prepare_frames(frames)  -> model input for a list of same-size RGB uint8 whole frames
    forward(model_input)    -> output (anything; only its computation is timed)

The raw baseline times `forward` on inputs prepared before the clock starts. Without
`prepare`+`forward`, the baseline is the plugin's own `encode_batch` hook called directly (and,
for region pooling without `prepare_frames`, its `encode_feature_maps` hook), so the ratio then
shows only the core's own overhead. Every figure is the median of `repeats` timed passes after
`warmup` untimed ones, Orion and raw passes alternating; CUDA work is synchronised before the
clock stops.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .errors import ConfigError

MODES = ("encode", "crop", "region")
# Backends whose module is not `orion_<name>`, for registering without entry points (see ensure_backend).
BUILT_IN_MODULES = {"histogram": "orion_core.backends.histogram"}


# -- backends without entry points -------------------------------------------------------------
def load_script(path: str | Path) -> Any:
    """A `benchmarks/` script as a module: they are run by path, not installed, and some reuse
    another's runners (pets.py's peers, its ground-truth helpers)."""
    import importlib.util

    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses (and pickling) look their module up by name
    spec.loader.exec_module(module)
    return module


def ensure_backend(name: str) -> str:
    """Make `name` usable even where the plugins are on PYTHONPATH but not pip-installed.

    Entry points exist only for installed distributions; a GPU box with a bare checkout has none.
    Then the module `orion_<name>` (or the built-in one) is registered in-process.
    """
    import importlib

    from .plugins import installed_backends, register_backend

    if name in installed_backends():
        return name
    module_name = BUILT_IN_MODULES.get(name, f"orion_{name}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return name  # let the normal UnknownBackendError explain what is installed
    plugin = getattr(module, "plugin", module)  # entry points may name an object inside the module
    register_backend(name, plugin, distribution=f"orion-{name}" if name not in BUILT_IN_MODULES else "orion-core")
    return name


# -- synthetic inputs ----------------------------------------------------------------------------
def synthetic_frames(count: int, size: tuple[int, int], seed: int = 0, distinct: int = 8) -> list[np.ndarray]:
    """`count` RGB uint8 frames of `size` (width, height), cycling through `distinct` images.

    Pixel content does not change a network's cost, so a few distinct frames are reused rather than
    holding hundreds of full frames in memory.
    """
    import cv2

    width, height = size
    rng = np.random.default_rng(seed)
    pool = []
    for _ in range(max(1, min(distinct, count))):
        coarse = rng.integers(0, 256, size=(height // 16 + 2, width // 16 + 2, 3)).astype(np.uint8)
        image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
        noise = rng.integers(-12, 13, size=image.shape)
        pool.append(np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return [pool[i % len(pool)] for i in range(count)]


def synthetic_boxes(frames: int, per_frame: int, size: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    """Pedestrian-like xyxy boxes (10-45% of the frame height, aspect 0.35-0.6) inside each frame."""
    width, height = size
    rng = np.random.default_rng(seed + 1)
    out = []
    for _ in range(frames):
        h = rng.uniform(0.10, 0.45, per_frame) * height
        w = np.minimum(rng.uniform(0.35, 0.6, per_frame) * h, width - 1)
        x = rng.uniform(0, width - w)
        y = rng.uniform(0, height - h)
        out.append(np.stack([x, y, x + w, y + h], axis=1).astype(np.float32))
    return out


def crops_of(frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray], padding: float) -> list[np.ndarray]:
    """The crops `embed_boxes` would cut (same helper, same padding), in the same order."""
    from .vision import crop_box

    crops = []
    for frame, frame_boxes in zip(frames, boxes):
        for box in frame_boxes:
            crop = crop_box(frame, box, padding)
            if crop is not None:
                crops.append(np.ascontiguousarray(crop))
    return crops


# -- timing ----------------------------------------------------------------------------------------
def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits for queued GPU work, so a timer measures the work and not its launch."""
    if str(device).startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    if device == "mps":
        import torch

        return torch.mps.synchronize
    return lambda: None


def paired_median_seconds(
    fns: Sequence[Callable[[], Any]], repeats: int = 3, warmup: int = 1, sync: Callable[[], None] = lambda: None,
    tick: Callable[[], None] | None = None,
) -> list[float]:
    """Median seconds of each function, timed in alternation (a, b, a, b, ...).

    Alternating keeps a comparison fair on a shared or throttling machine: a slow spell hits both
    sides of a ratio instead of only the one that happened to run during it.
    """
    tick = tick or (lambda: None)
    for _ in range(warmup):
        for fn in fns:
            fn()
            sync()
            tick()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(max(1, repeats)):
        for fn, bucket in zip(fns, times):
            started = time.perf_counter()
            fn()
            sync()
            bucket.append(time.perf_counter() - started)
            tick()
    return [statistics.median(bucket) for bucket in times]


def _no_grad():
    """torch.inference_mode when torch is importable (raw forwards must not build autograd graphs)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a core dependency
        import contextlib

        return contextlib.nullcontext()
    return torch.inference_mode()


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def has_forward(model: Any, prepare: str = "prepare") -> bool:
    """Does the loaded embedder follow the raw-baseline convention (see the module docstring)?"""
    return callable(getattr(model, prepare, None)) and callable(getattr(model, "forward", None))


def _raw_runner(embedder: Any, items: Sequence[np.ndarray], prepare: str, hook: str, argument: str) -> tuple[Callable[[], Any], str]:
    """(function that runs the raw model over `items` in batch_size batches, what it calls).

    `forward` on inputs prepared before the clock starts when the embedder offers `prepare`
    (pure model cost), else the plugin's own `hook` called directly (the core's overhead only).
    """
    model, step = embedder.model, embedder.config.batch_size
    batches = _chunks(list(items), step)
    if has_forward(model, prepare):
        with _no_grad():
            inputs = [getattr(model, prepare)(list(batch)) for batch in batches]

        def run_forward() -> None:
            with _no_grad():
                for x in inputs:
                    model.forward(x)

        return run_forward, "forward"

    def run_hook() -> None:
        for batch in batches:
            embedder.backend.call(hook, embedder=model, **{argument: list(batch)})

    return run_hook, hook


def raw_crop_runner(embedder: Any, crops: Sequence[np.ndarray]) -> tuple[Callable[[], Any], str]:
    """The raw model over crops, in batch_size batches like the core."""
    return _raw_runner(embedder, crops, "prepare", "encode_batch", "images")


def raw_frame_runner(embedder: Any, frames: Sequence[np.ndarray]) -> tuple[Callable[[], Any], str]:
    """The raw model over whole frames (region pooling), in batch_size batches like the core."""
    return _raw_runner(embedder, frames, "prepare_frames", "encode_feature_maps", "frames")


# -- the embedding benchmark -------------------------------------------------------------------------
@dataclass
class EmbedTiming:
    """One row of the throughput table: the Orion stage and the raw model on the same items."""

    backend: str
    model: str
    mode: str  # encode (crops -> encode), crop / region (frames + boxes -> embed_boxes)
    boxes_per_frame: int | None
    frames: int | None
    items: int  # crops (encode) or boxes (crop, region)
    batch_size: int
    device: str
    precision: str
    orion_s: float
    raw_s: float
    raw_baseline: str  # forward | encode_batch | encode_feature_maps

    @property
    def orion_items_per_s(self) -> float:
        return self.items / self.orion_s if self.orion_s > 0 else math.inf

    @property
    def raw_items_per_s(self) -> float:
        return self.items / self.raw_s if self.raw_s > 0 else math.inf

    @property
    def ratio(self) -> float:
        """Orion throughput / raw throughput: 1.0 = the core costs nothing on top of the model."""
        return self.raw_s / self.orion_s if self.orion_s > 0 else math.nan

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.update(
            orion_items_per_s=round(self.orion_items_per_s, 2),
            raw_items_per_s=round(self.raw_items_per_s, 2),
            ratio=round(self.ratio, 4),
        )
        return out


def with_settings(embedder: Any, batch_size: int, pooling: str) -> Any:
    """The same loaded model under another batch size / pooling (weights load once per precision)."""
    variant = copy.copy(embedder)
    variant.config = dataclasses.replace(embedder.config, batch_size=batch_size)
    variant.pooling = pooling
    return variant


def _model_label(embedder: Any) -> str:
    cfg = embedder.config
    return str(cfg.weights_dir or cfg.model or embedder.backend.info().get("default_model") or "-")


def bench_embed(
    backend: str,
    *,
    model: str | None = None,
    weights: str | None = None,
    modes: Iterable[str] = MODES,
    batch_sizes: Iterable[int] = (32,),
    device: str = "auto",
    precisions: Iterable[str] = ("auto",),
    items: int = 32,
    boxes_per_frame: Iterable[int] = (8,),
    frame_size: tuple[int, int] = (768, 576),
    repeats: int = 3,
    warmup: int = 1,
    options: dict | None = None,
    seed: int = 0,
    threads: int | None = None,
    report: Callable[[str], None] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> list[EmbedTiming]:
    """Time the Orion embedding stage against the raw model; one EmbedTiming per configuration.

    `items` is the number of crops (mode encode) or boxes (modes crop and region; the frame count is
    items // boxes_per_frame). Region rows are skipped (with a note to `report`) when the backend has
    no feature maps. Weights load once per precision. `threads` sets torch's CPU thread count
    (None: `orion_core.stages.default_threads`, all usable cores but one: on a shared CPU, a
    preempted torch worker thread stalls the others). `progress` gets `{"frames": passes done,
    "total": passes}` after each timed or warm-up pass (the defaults make about 16 passes over
    64 crops: ~30 s for mobilenetv2 on one CPU thread).
    """
    from .config import EmbeddingConfig
    from .embedder import VisualEmbedder

    modes = [m for m in modes]
    unknown = [m for m in modes if m not in MODES]
    if unknown:
        raise ConfigError(f"bench embed: unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    batch_sizes, precisions, per_frame = list(batch_sizes), list(precisions), list(boxes_per_frame)
    if items < 1 or any(b < 1 for b in batch_sizes) or any(k < 1 for k in per_frame):
        raise ConfigError("bench embed: --items, --batch-size and --boxes-per-frame must be positive integers")
    note = report or (lambda message: None)
    ensure_backend(backend)
    from .stages import set_torch_threads

    set_torch_threads(threads)
    done, total = 0, None

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress({"frames": done, "total": total})

    rows: list[EmbedTiming] = []
    for precision in precisions:
        config = EmbeddingConfig(
            backend=backend, model=model, weights_dir=weights, device=device, precision=precision,
            batch_size=batch_sizes[0], pooling="crop", options=dict(options or {}),
        )
        loaded = VisualEmbedder(config)
        sync = synchronizer(loaded.config.device)
        region_ok = loaded.backend.has("encode_feature_maps")
        if total is None:
            per_batch = ("encode" in modes) + len(per_frame) * (("crop" in modes) + ("region" in modes and region_ok))
            total = len(precisions) * len(batch_sizes) * per_batch * 2 * (max(1, repeats) + warmup)
        if "region" in modes and not region_ok:
            note(f"backend {backend!r} has no encode_feature_maps: region pooling rows skipped")
        if not has_forward(loaded.model):
            note(f"backend {backend!r}: its embedder has no prepare/forward, so the raw baseline is its own hook")
        for batch in batch_sizes:
            if "encode" in modes:
                emb = with_settings(loaded, batch, "crop")
                crops = sample_crops(items, frame_size, seed, emb.config.crop_padding)
                run_raw, raw = raw_crop_runner(emb, crops)
                seconds = paired_median_seconds([lambda: emb.encode(crops), run_raw], repeats, warmup, sync, tick)
                rows.append(_timing(emb, "encode", None, None, len(crops), seconds, raw))
                del crops, run_raw
            for k in per_frame:
                n_frames = max(1, items // k)
                frames = synthetic_frames(n_frames, frame_size, seed)
                boxes = synthetic_boxes(n_frames, k, frame_size, seed)
                for mode in ("crop", "region"):
                    if mode not in modes or (mode == "region" and not region_ok):
                        continue
                    emb = with_settings(loaded, batch, mode)
                    if mode == "crop":
                        run_raw, raw = raw_crop_runner(emb, crops_of(frames, boxes, emb.config.crop_padding))
                    else:
                        run_raw, raw = raw_frame_runner(emb, frames)
                    seconds = paired_median_seconds([lambda: emb.embed_boxes(frames, boxes), run_raw], repeats, warmup, sync, tick)
                    rows.append(_timing(emb, mode, k, n_frames, n_frames * k, seconds, raw))
                    del run_raw
        del loaded
        _free_device_memory()
    return rows


def sample_crops(count: int, frame_size: tuple[int, int], seed: int, padding: float) -> list[np.ndarray]:
    """`count` pedestrian-like crops cut from synthetic frames (4 boxes per frame)."""
    frames = synthetic_frames(math.ceil(count / 4), frame_size, seed)
    return crops_of(frames, synthetic_boxes(len(frames), 4, frame_size, seed), padding)[:count]


def _timing(emb: Any, mode: str, k: int | None, frames: int | None, items: int, seconds: Sequence[float], raw: str) -> EmbedTiming:
    orion_s, raw_s = seconds
    return EmbedTiming(
        backend=emb.name, model=_model_label(emb), mode=mode, boxes_per_frame=k, frames=frames, items=items,
        batch_size=emb.config.batch_size, device=emb.config.device, precision=emb.config.precision,
        orion_s=orion_s, raw_s=raw_s, raw_baseline=raw,
    )


def _free_device_memory() -> None:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


EMBED_COLUMNS = (
    ("backend", "backend", "{}"), ("mode", "mode", "{}"), ("k", "boxes_per_frame", "{}"), ("items", "items", "{}"),
    ("batch", "batch_size", "{}"), ("device", "device", "{}"), ("dtype", "precision", "{}"),
    ("orion items/s", "orion_items_per_s", "{:.1f}"), ("raw items/s", "raw_items_per_s", "{:.1f}"),
    ("ratio", "ratio", "{:.3f}"), ("raw baseline", "raw_baseline", "{}"),
)


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """A plain aligned text table (also valid Markdown when the caller adds pipes); None -> '-'."""
    header = [title for title, _, _ in columns]
    body = [
        [("-" if r.get(key) is None else fmt.format(r[key])) for _, key, fmt in columns]
        for r in rows
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *body)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(header, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in body]
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """The same table as Markdown, for README files."""
    header = [title for title, _, _ in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        cells = [("-" if r.get(key) is None else fmt.format(r[key])) for _, key, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- re-entry identity ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ReentryOutcome:
    """Which predicted id covered an object just before it left and just after it came back."""

    object_id: int
    left_frame: int
    reentered_frame: int
    old_id: int | None  # None: no predicted box matched the object before it left
    new_id: int | None  # None: none matched it after it came back

    @property
    def kept(self) -> bool:
        return self.old_id is not None and self.old_id == self.new_id


def frame_matches(gt: Any, pred: Any, iou_threshold: float = 0.5) -> dict[tuple[int, int], int]:
    """(frame, ground-truth id) -> the predicted id matched to it in that frame.

    Per frame, a one-to-one assignment maximising total IoU (Hungarian), keeping pairs with
    IoU >= `iou_threshold` (the CLEAR/Identity threshold). `gt` and `pred` are
    `orion_core.evaluate.MotRows`; GT rows with considered=0 are ignored.
    """
    from scipy.optimize import linear_sum_assignment

    keep = gt.flags.astype(np.int64) != 0
    matches: dict[tuple[int, int], int] = {}
    pred_by_frame: dict[int, list[int]] = {}
    for index, frame in enumerate(pred.frames):
        pred_by_frame.setdefault(int(frame), []).append(index)
    for frame in np.unique(gt.frames[keep]):
        p = np.asarray(pred_by_frame.get(int(frame), []), dtype=np.int64)
        if len(p) == 0:
            continue
        g = np.flatnonzero(keep & (gt.frames == frame))
        ious = box_iou_xywh(gt.boxes[g], pred.boxes[p])
        rows, cols = linear_sum_assignment(ious, maximize=True)
        for r, c in zip(rows, cols):
            if ious[r, c] >= iou_threshold:
                matches[(int(frame), int(gt.ids[g[r]]))] = int(pred.ids[p[c]])
    return matches


def box_iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of left,top,width,height boxes."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    ih = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _majority(ids: list[int]) -> int | None:
    """Most frequent id; a tie goes to the id seen first (ids are listed in time order)."""
    if not ids:
        return None
    counts = Counter(ids)
    best = max(counts.values())
    return next(i for i in ids if counts[i] == best)


REENTRY_WINDOW_S = 0.6  # seconds of a visit that decide its id: 15 frames at 25 fps


def reentry_window(fps: float | None) -> int:
    """Ground-truth frames that decide the id before and after an absence: `REENTRY_WINDOW_S` of
    video, never fewer than 15 frames. In frames alone, the window at 50 fps (0.3 s) ends before a
    half-visible returning object is first detected, and every return scores as lost."""
    return max(15, round(REENTRY_WINDOW_S * fps)) if fps else 15


def score_reentries(
    gt: Any, pred: Any, events: Iterable[Any], window: int | None = None, iou_threshold: float = 0.5, fps: float | None = None
) -> list[ReentryOutcome]:
    """For each re-entry event, the predicted id before the absence vs after it.

    old id = the majority predicted id over the object's last `window` ground-truth frames up to
    `left_frame`; new id = the majority over its first `window` frames from `reentered_frame`.
    A majority (not the first frame) because a tracker reports a new track only after a few hits
    and may re-identify it a few frames later; both are part of "getting its old id back".
    `window` defaults to `reentry_window(fps)`: the same stretch of time at any frame rate.
    `events` are `orion_core.synthetic.ReentryEvent`s (object_id, left_frame, reentered_frame).
    """
    window = reentry_window(fps) if window is None else window
    matches = frame_matches(gt, pred, iou_threshold)
    keep = gt.flags.astype(np.int64) != 0
    outcomes = []
    for event in events:
        frames = np.unique(gt.frames[keep & (gt.ids == event.object_id)])
        before = frames[frames <= event.left_frame][-window:]
        after = frames[frames >= event.reentered_frame][:window]
        old = _majority([matches[(int(f), event.object_id)] for f in before if (int(f), event.object_id) in matches])
        new = _majority([matches[(int(f), event.object_id)] for f in after if (int(f), event.object_id) in matches])
        outcomes.append(ReentryOutcome(event.object_id, event.left_frame, event.reentered_frame, old, new))
    return outcomes


# -- running Orion ---------------------------------------------------------------------------------
@dataclass
class OrionRun:
    """Where a benchmark run of Orion wrote its tracks, and how long the whole run took."""

    tracks: Path
    seconds: float  # wall clock of engine construction + process_video (model load, decode, write)
    result: Any  # orion_core.engine.EpisodeResult


def run_orion(
    video: str | Path,
    detections: str | Path,
    out_dir: str | Path,
    episode: str,
    backend: str | None = None,
    appearance: bool = True,
    max_frames: int | None = None,
    label: str = "object",
    overrides: dict | None = None,
) -> OrionRun:
    """`orion run VIDEO --detector mot --detections FILE [--no-appearance]`, through the Python API."""
    from .config import build_config, deep_merge
    from .engine import PerceptionEngine

    settings = {
        "video": {"max_frames": max_frames},
        "detection": {"detector": "mot", "detections": str(detections), "label": label},
        # motion-only never embeds; name the weight-free backend so no plugin is even asked for a size
        "embedding": {"backend": backend if appearance else "histogram"},
        "tracking": {"appearance": appearance},
        "output": {"out_dir": str(out_dir), "episode": episode},
    }
    config = build_config(overrides=deep_merge(settings, overrides or {}))
    started = time.perf_counter()
    result = PerceptionEngine(config).process_video(video)
    seconds = time.perf_counter() - started
    return OrionRun(tracks=result.path / "tracks.txt", seconds=seconds, result=result)


SETTABLE = ("tracking", "memory", "embedding")  # config sections a benchmark's `--set` may override
FIXED = {("embedding", "backend"), ("tracking", "appearance")}  # what each benchmark method decides itself


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A benchmark's `--set [SECTION.]KEY=VALUE` items as config overrides by section (no section:
    tracking); values are YAML scalars (0.5, true, off). Checked against the config, so a typo
    fails before the first run rather than after minutes of them. Raises ConfigError."""
    import yaml

    from .config import build_config, deep_merge

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().rpartition(".")
        section = section if dot else "tracking"
        if not sep or not name:
            raise ConfigError(f"--set takes [SECTION.]KEY=VALUE, got {item!r}")
        if section not in SETTABLE:
            raise ConfigError(f"--set {key.strip()}: section {section!r} cannot be set here; use one of {', '.join(SETTABLE)}")
        if (section, name) in FIXED:
            raise ConfigError(f"--set {key.strip()}: each method sets this itself (see --methods / --backends)")
        out.setdefault(section, {})[name] = yaml.safe_load(value)
    if out:
        try:
            build_config(overrides=deep_merge({"embedding": {"backend": "histogram"}}, out))
        except ConfigError as exc:
            raise ConfigError(f"--set: {exc}") from None
    return out


def rewrite_video(source: str | Path, out: str | Path, frames: range, convert: Callable[[int, Any], np.ndarray],
                  size: tuple[int, int] | None = None) -> None:
    """Decoded frames `frames` (0-based) of `source`, each as `convert(index, av_frame)` gives it (an
    (H, W, 3) RGB or an I420 planes array, `size` (W, H) or the source's), written losslessly (FFV1 in
    AVI) at the source's declared rate and renumbered from 0: the same pixels a benchmark's cut or
    re-shot video is scored on. Written whole or not at all (temp file, then rename)."""
    import av

    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial{out.suffix}")
    with av.open(str(source)) as src, av.open(str(tmp), "w", format="avi") as dst:
        stream_in = src.streams.video[0]
        stream_out = dst.add_stream("ffv1", rate=stream_in.average_rate)
        width, height = size or (stream_in.width, stream_in.height)
        stream_out.width, stream_out.height, stream_out.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(src.decode(stream_in)):
            if index >= frames.stop:
                break
            if index not in frames:
                continue
            image = convert(index, frame)
            if image.ndim == 3:
                written = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            else:
                written = av.VideoFrame.from_ndarray(image, format="yuv420p")
            written.pts = index - frames.start
            for packet in stream_out.encode(written):
                dst.mux(packet)
        for packet in stream_out.encode(None):
            dst.mux(packet)
    tmp.replace(out)


def write_mot(path: str | Path, rows: Iterable[tuple[int, int, float, float, float, float, float]]) -> Path:
    """Write `frame,id,left,top,w,h,conf,-1,-1,-1` lines atomically (for peer trackers' outputs)."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    with tmp.open("w", encoding="utf-8") as handle:
        for frame, track_id, x, y, w, h, conf in rows:
            handle.write(f"{frame},{track_id},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{conf:.4f},-1,-1,-1\n")
    os.replace(tmp, path)
    return path
