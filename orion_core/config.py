"""Configuration objects, presets and YAML loading.

Precedence when the CLI builds a config: command-line options > YAML file > preset > defaults.
Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import logging
import math
import types
import typing
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import ConfigError, OrionError, PluginError, UnknownBackendError, clip, quote

POOLINGS = ("auto", "crop", "region")
log = logging.getLogger(__name__)
# set while PerceptionConfig.from_dict builds a config with tracking.appearance false
_MOTION_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("orion_motion_only", default=False)


# Widest embedding any backend may declare: ViT-7B is 4096; a bigger number is a plugin bug that
# would make every (N, D) buffer (and embeddings.npy) absurd.
MAX_EMBEDDING_DIM = 65536
POLICIES = ("all", "on_demand")
EXPOSURE_MODES = ("on", "off")  # orion_core/exposure.py: divide the camera's gains out of crops, or not


@dataclass
class EmbeddingConfig:
    """Which backend embeds detections, and how.

    `backend=None` picks the strongest installed backend whose weights are on this machine (see
    `plugins.choose_backend`) and logs which one and why. `embedding_dim` is filled from the
    plugin's `embedding_dim` hook (no weights loaded); a value filled that way is a hint, not a
    pin: `VisualEmbedder` asks the plugin again, so changing `weights_dir` afterwards works.
    `dinov3_weights_dir` is the original design's name for `weights_dir` (also settable later).
    """

    backend: str | None = None
    model: str | None = None  # hub id; None = the plugin's default
    weights_dir: str | None = None  # local checkpoint folder/file; wins over `model`
    device: str = "auto"  # auto|cpu|cuda|mps
    precision: str = "auto"  # auto|fp32|fp16|bf16
    batch_size: int = 32
    pooling: str = "auto"  # auto|crop|region
    clip_frames: int = 2  # frames per clip for video-native backends (V-JEPA 2: one tubelet)
    crop_padding: float = 0.0  # context added around each box, as a fraction of its size (0: background pollutes colour features; PETS HOTA 33 -> 43 with histogram)
    embedding_dim: int | None = None
    # all: embed every box (DeepSORT's way); on_demand: skip boxes motion matches beyond doubt
    # (orion_core/tracking/ondemand.py). None = the backend's suggestion (backend_info
    # "embedding_policy"), else on_demand: chosen on PETS09 frames 1-400 (benchmarks/README.md).
    policy: str | None = None
    # on_demand: a sure motion match is re-embedded after this many video frames (the tracker's unit:
    # container frame rates lie, PETS09 says 10 fps and is 7; coarser --fps sampling then embeds more often)
    refresh_frames: int = 20
    # on: divide the camera's exposure / white-balance gains (read from the background against the
    # first frame, orion_core/exposure.py) out of every crop before embedding; off: embed raw pixels
    exposure: str = "on"
    # Text settings whose words YAML 1.1 reads as booleans when unquoted (`exposure: off` is False).
    ON_OFF: ClassVar[tuple[str, ...]] = ("exposure",)
    threads: int | None = None  # torch CPU threads; None = all usable cores but one (orion_core.stages.default_threads)
    options: dict = field(default_factory=dict)  # backend-specific extras, passed through
    dinov3_weights_dir: InitVar[str | None] = None  # seed-API alias of weights_dir

    def __post_init__(self, dinov3_weights_dir: str | None) -> None:
        from .device import DEVICES, PRECISIONS
        from .plugins import choose_backend, get_backend

        if dinov3_weights_dir is not None:
            if self.weights_dir is not None and str(self.weights_dir) != str(dinov3_weights_dir):
                raise ConfigError("give either weights_dir or dinov3_weights_dir (an alias), not both")
            self.weights_dir = str(dinov3_weights_dir)
        if self.weights_dir is not None:
            self.weights_dir = str(self.weights_dir)
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"embedding.device: unknown device {self.device!r}; use one of {', '.join(DEVICES)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"embedding.precision: unknown precision {self.precision!r}; use one of {', '.join(PRECISIONS)}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"embedding.pooling: unknown pooling {self.pooling!r}; use one of {', '.join(POOLINGS)}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"embedding.batch_size must be a positive integer, got {self.batch_size!r}")
        if self.policy is not None and self.policy not in POLICIES:
            raise ConfigError(f"embedding.policy: unknown policy {str(self.policy)[:40]!r}; use one of {', '.join(POLICIES)}")
        if isinstance(self.refresh_frames, bool) or not isinstance(self.refresh_frames, int) or self.refresh_frames < 1:
            raise ConfigError(f"embedding.refresh_frames must be a positive integer, got {self.refresh_frames!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigError(f"embedding.threads must be a positive integer (torch CPU threads), got {self.threads!r}")
        if self.exposure not in EXPOSURE_MODES:
            raise ConfigError(f"embedding.exposure: unknown mode {str(self.exposure)[:40]!r}; use one of {', '.join(EXPOSURE_MODES)}")
        if not isinstance(self.clip_frames, int) or self.clip_frames < 1:
            raise ConfigError(f"embedding.clip_frames must be a positive integer, got {self.clip_frames!r}")
        self.backend_choice: str | None = None  # why the backend was picked, when nobody named one
        if self.backend is None:
            self.backend, why = choose_backend(self.weights_dir, self.model)
            self.backend_choice = why
            # a motion-only run never loads it: no reason to warn (PerceptionConfig.from_dict says so)
            level = logging.INFO if _MOTION_ONLY.get() else logging.WARNING
            log.log(level, "no embedding backend named; using %s because %s (name one: embedding.backend, --backend)",
                    self.backend, why)
        backend = get_backend(self.backend)  # UnknownBackendError lists what is installed
        self._plugin_dim: int | None = None
        if self.embedding_dim is None:
            self.embedding_dim = self._plugin_dim = query_embedding_dim(backend, self)

    @property
    def pinned_dim(self) -> int | None:
        """The dimension the user asked for, or None when `embedding_dim` only echoes the plugin's answer."""
        if self.embedding_dim is not None and self.embedding_dim == getattr(self, "_plugin_dim", None):
            return None
        return self.embedding_dim


def _get_dinov3_weights_dir(self: EmbeddingConfig) -> str | None:
    return self.weights_dir


def _set_dinov3_weights_dir(self: EmbeddingConfig, value: str | None) -> None:
    self.weights_dir = None if value is None else str(value)


# The design's API sets `config.embedding.dinov3_weights_dir = "models/..."` after construction;
# as a property the alias reaches `weights_dir` (and run.json) instead of a stray attribute.
EmbeddingConfig.dinov3_weights_dir = property(_get_dinov3_weights_dir, _set_dinov3_weights_dir)  # type: ignore[assignment]


def query_embedding_dim(backend: Any, config: EmbeddingConfig) -> int:
    """Ask the plugin for its dimension; anything but a positive int (up to MAX_EMBEDDING_DIM) is the plugin's fault."""
    from .plugins import short

    try:
        dim = backend.call("embedding_dim", config=config)
    except OrionError:
        raise
    except Exception as exc:
        raise PluginError(f"backend {backend.name!r}: embedding_dim failed: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_EMBEDDING_DIM:
        raise PluginError(
            f"backend {backend.name!r}: embedding_dim returned {short(dim)}, expected a positive int up to {MAX_EMBEDDING_DIM}"
        )
    return dim


@dataclass
class VideoConfig:
    """How frames are read."""

    fps: float | None = None  # sample to this rate; None = every frame
    max_frames: int | None = None  # stop after this many processed frames


@dataclass
class DetectionConfig:
    """Which detector finds boxes. `mot` reads a MOTChallenge det.txt; `motion` needs no weights."""

    detector: str = "yolo"  # yolo|mot|motion
    model: str = "yolo11n.pt"  # yolo: a local .pt path or a name ultralytics knows
    detections: str | None = None  # mot: path to det.txt
    confidence: float = 0.25  # yolo: minimum score
    classes: list[str] | None = None  # keep only these class names
    min_score: float | None = None  # mot: drop rows below this score
    label: str = "object"  # mot/motion: class name given to every box
    min_area: int = 200  # motion: smallest blob in pixels
    device: str = "auto"  # yolo
    imgsz: int = 640  # yolo: inference size (longest side, pixels)
    batch_size: int = 8  # yolo: frames per predict call in detect_batch
    motion_method: str = "mog2"  # motion: mog2|knn background subtractor


EMA_S = 1.0 / (25.0 * math.log(1.0 / 0.9))  # ~0.38 s: what momentum 0.9 per frame spans at 25 fps


@dataclass
class TrackingConfig:
    """Online tracker: Kalman motion + Hungarian assignment fused with appearance.

    Timings are in seconds of video (`*_s` keys) and become frame counts with the video's
    declared frame rate (issue 10: 30 frames were 4.3 s at 7 fps but 1.2 s at 25 fps). The old
    frame-count keys (`max_age`) still work and win when given. Defaults equal the old frame
    defaults at 10 fps, the rate PETS09 declares, so results there do not move.
    """

    appearance: bool = True  # False = motion-only baseline (embeddings are ignored)
    high_score: float = 0.5  # first association pass (and new tracks) use detections at or above this
    low_score: float = 0.1  # second pass (ByteTrack-style) uses those between low and high; below low: dropped
    min_iou: float = 0.2  # first-pass motion gate: below this IoU with the prediction, no match
    low_min_iou: float = 0.5  # second-pass gate: low-score boxes must overlap the prediction this much
    # First-pass appearance gate (cosine distance to the track's EMA); None = fitted per video from
    # the tracker's own confident matches (tracking/calibration.py), 0.6 until it has the evidence
    # (30 match distances, sampled every frame: a short clip fits its gate too).
    max_appearance_distance: float | None = None
    # cost = w * appearance + (1 - w) * (1 - IoU). 0.9: PETS 1-400 (0.7 costs histogram 9.1 and
    # mobilenetv2 6.7 HOTA) and the TUD replays (0.7: mobilenetv2 -1.8 / -0.9 HOTA with the clean /
    # realistic detector, histogram +0.1 / -0.7; benchmarks/README.md, "Defaults checked beyond PETS").
    appearance_weight: float = 0.9
    ema_momentum: float = 0.9  # track embedding = m * old + (1 - m) * new, at least this m per update
    # ... and at least this many seconds of video: above 25 fps, m rises to exp(-dt / ema_s) (dt =
    # seconds between processed frames), so ten updates are not 0.2 s of near-identical crops at
    # 50 fps. At 25 fps and below nothing changes. 0 = momentum per update only.
    ema_s: float = EMA_S
    gallery_size: int = 16  # recent embeddings kept per track
    min_hits: int = 3  # observations before a new track is reported
    max_age_s: float = 3.0  # seconds a lost track is kept for re-association
    # The Kalman filter's process noise is per second, as per frame at this rate (tracking/kalman.py
    # NOISE_FPS explains the value); 0 = per frame of any video, as before 2026-12-03
    kalman_noise_fps: float = 10.0
    max_age: int | None = None  # the same in video frames (old key); wins over max_age_s when given
    per_class: bool = True  # never match across classes
    recovery_max_distance: float | None = None  # lost-track second chance; None = the calibrated re-ID bar
    # Lost-track second chance: its spatial gate, in box sides (the larger side: a person's height)
    # around the last/predicted centre ... `recovery_growth` covers the walking, so the fixed part only
    # covers where the box was misplaced. It was 3.0 before the growth term existed: 3 heights after
    # a single missed frame, the whole 640x480 frame for TUD's near pedestrians, where a lost track
    # took a look-alike 1.7-2 heights away after 0.56-0.84 s (3 heights/s; benchmarks/README.md,
    # "Real trajectories"). 1.0: TUD-Campus mobilenetv2 +2.7/+3.5 HOTA at 25/8.3 fps; PETS 1-400 and
    # the synthetic ablation scenes unchanged (their recoveries are all within a side).
    recovery_radius: float = 1.0
    recovery_growth: float = 1.0  # ... plus this many box sides per second lost (a walker covers ~1 height/s)
    # ... and the crop must look more like the lost track than any other object seen beside it ever
    # did (its "confuser", learned from the video: tracker._learn_confusers). The calibrated bar is
    # pooled over all pairs; a track with a twin needs its own. Replays (fitted detector, 6 seeds):
    # histogram +0.9 / +0.9, mobilenetv2 +0.7 / +0.8 mean HOTA / IDF1, no cell lower; PETS 7 fps
    # unchanged, 3.5 / 2.3 fps lower (benchmarks/README.md, "A lost track's twin").
    recovery_confusers: bool = True
    # Crops whose box is covered more than this fraction by another detection do not feed galleries
    # (they mostly show the occluder: 18% of PETS detections); 1.0 = learn from every crop.
    gallery_max_overlap: float = 0.25
    # Covered crops still update the short-term EMA (True: they do not): on_demand embeds exactly the
    # boxes in crowded neighbourhoods, and an EMA that skips them goes stale where it is needed (PETS
    # 1-400, full pipeline: histogram 47.3/66.0 -> 49.4/68.9, mobilenetv2 44.8/62.3 -> 52.6/76.5 HOTA/IDF1;
    # synthetic re-entry mobilenetv2 IDSW 8 -> 6). Item 4 of issue 10 asks for galleries only.
    ema_skips_covered: bool = False
    # ... and crops covered that much by another live confirmed track's predicted box (a box around
    # two people, a person in front of an undetected one: no second detection reveals those).
    # Measured, not adopted (benchmarks/README.md, "Defaults checked beyond PETS"): histogram PETS
    # 1-400 +1.2 HOTA / +3.1 IDF1 and TUD replays +0.1..+0.5, but the synthetic 14-object crowd at
    # 25 fps -1.7 / -2.3; mobilenetv2 within 0.4 everywhere.
    cover_by_tracks: bool = False
    # Pairs where either side has no embedding: True = appearance term imputed as half the gate (one
    # cost scale for the whole assignment); False = plain 1 - IoU (the old, mixed scale).
    impute_missing_appearance: bool = True
    # First pass: between competing candidates (a track's detections, a detection's tracks), appearance
    # distances closer than the crop-to-crop noise of a true match (`calibration.tie_margin`, 0.02 before
    # the video has evidence) count as ties, so motion decides (`tracker.appearance_ties`). Measured, not
    # adopted: no change on the TUD replays or synthetic scenes, PETS 1-400 mobilenetv2 -1.9 HOTA / -4.9
    # IDF1 (benchmarks/README.md, "Appearance ties").
    appearance_ties: bool = False
    keep_displaced: bool = True  # a lost track whose entity a new track claimed lives on (False: it ends)
    # Two confirmed tracks on one object (a duplicate box became a second track) take turns on its
    # one detection: overlapping (IoU >= 0.5) for this many seconds, each matched on some frames,
    # together on at most one, the younger ends (`tracker.Tracker._end_duplicates`). 0 = never.
    # Measured, not adopted (benchmarks/README.md, "Duplicate tracks"): it ended a track in 8 of 108
    # look-alike stress runs and moved no mean by more than 0.1; nothing on PETS or the clean
    # replays; ~0.05 ms a frame at 50 objects.
    duplicate_s: float = 0.0
    calibrate: bool = True  # fit re-ID bar, margin and appearance gate per video; False = fixed prior
    cmc: str = "auto"  # camera motion compensation: auto (on when the camera moves) | on | off
    # Text settings whose words YAML 1.1 reads as booleans when unquoted (`cmc: off` is False).
    ON_OFF: ClassVar[tuple[str, ...]] = ("cmc",)
    # -- what is reported, and the offline pass at commit (tracking/offline.py) --
    report_state: bool = True  # output boxes are the Kalman state after its update (as SORT/ByteTrack report), not the raw detection
    offline: bool = True  # offline tracklet pass at commit; False (CLI --online) keeps the pure online result
    offline_smooth: bool = True  # RTS-smoothed boxes
    # Fill gaps up to this many seconds inside an entity (0 = off): as long as the online tracker
    # itself presumes a lost object is still there (max_age_s). People stay hidden in a crowd for
    # longer than 1 s, the old value: 3 s scored +4.8..+6.0 HOTA on the clean TUD replays, +1.8..+2.9
    # with the realistic detector (every cell up), +11 on the synthetic 14-object crowd, PETS 1-400
    # -0.3 histogram / +1.2 mobilenetv2 HOTA (benchmarks/README.md, "Defaults checked beyond PETS").
    # Longer than max_age_s reaches gaps where an object left the view and came back: 5 s drew
    # re-entering objects across the frame (synthetic re-entry -4.7 HOTA).
    offline_interpolate_s: float = 3.0
    # ... in an entity once seen this many processed frames in a row (or 75% of a short life); in any
    # other entity only gaps hidden behind another box (0 = fill every entity)
    offline_interpolate_min_run: int = 8
    # A gap in which the object walked out of view and came back in (offline.left_and_came_back) is
    # filled only where another box hid it, as in an unsteady entity; true: like any other gap. A
    # filled box there stands at the border where nobody is (PETS: +0.3 HOTA at 7 and 3.5 fps, a
    # short clip +3.6; the TUD replays and synthetic scenes unchanged: benchmarks/README.md).
    offline_interpolate_exits: bool = False
    # Leave out entities the video does not support as objects: never seen steadily, seen on under
    # half the frames their tracks held them and in runs under 3 frames on average, with misses no
    # occluder explains or boxes inside another entity's (clutter, duplicate boxes). The
    # realistic-detector TUD replays gain in every cell; clean replays, PETS 1-400 and the synthetic
    # scenes barely move (benchmarks/README.md, "Unsupported entities").
    offline_drop_unsupported: bool = True
    # ... and, with it, the start or end of a steady entity that fails the same test (misses
    # nothing hides): a track that drifted onto a background spot, or began on a few stray boxes
    # before finding its object. Realistic-detector TUD replays: no cell down, Stadtmitte up to
    # +2.4 HOTA; clean replays within -0.5 (benchmarks/README.md, "Unsupported starts and ends").
    offline_trim_unsupported: bool = True
    # A new track is reported from its `min_hits`-th observation on; the pass adds the observations
    # it made while tentative (real detections, reported late), so an object's first frames are not
    # missed. Only with the pass: online output stays causal.
    offline_backfill: bool = True
    offline_link: bool = True  # join entities that never overlap in time, by appearance or by motion
    offline_link_motion_s: float = 2.0  # longest gap a motion-only link may bridge, seconds

    def __post_init__(self) -> None:
        _check_fraction(self, "tracking", ("high_score", "low_score", "min_iou", "low_min_iou", "appearance_weight", "ema_momentum", "gallery_max_overlap"))
        if self.low_score > self.high_score:
            raise ConfigError(f"tracking.low_score ({self.low_score}) must not exceed tracking.high_score ({self.high_score})")
        if self.max_appearance_distance is not None:
            _check_range(self, "tracking", "max_appearance_distance", 0.0, 2.0)
        if self.recovery_max_distance is not None:
            _check_range(self, "tracking", "recovery_max_distance", 0.0, 2.0)
        _check_positive_int(self, "tracking", ("gallery_size", "min_hits"))
        if self.max_age is not None:
            _check_positive_int(self, "tracking", ("max_age",))
        if isinstance(self.offline_interpolate_min_run, bool) or not isinstance(self.offline_interpolate_min_run, int) \
                or self.offline_interpolate_min_run < 0:
            raise ConfigError("tracking.offline_interpolate_min_run must be a whole number of frames >= 0 (0 fills "
                              f"every entity), got {self.offline_interpolate_min_run!r}")
        _check_positive_seconds(self, "tracking", ("max_age_s",))
        for name in ("recovery_radius", "recovery_growth"):
            if isinstance(getattr(self, name), bool) or not getattr(self, name) >= 0:
                raise ConfigError(f"tracking.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("offline_interpolate_s", "offline_link_motion_s", "duplicate_s", "ema_s"):
            if not _finite_nonnegative(getattr(self, name)):
                raise ConfigError(f"tracking.{name} must be a number of seconds >= 0, got {getattr(self, name)!r}")
        value = self.kalman_noise_fps
        if not _finite_nonnegative(value):
            raise ConfigError(f"tracking.kalman_noise_fps must be a frame rate >= 0 (0: noise per frame), got {value!r}")
        if self.cmc not in CMC_MODES:
            raise ConfigError(f"tracking.cmc: unknown mode {self.cmc!r}; use one of {', '.join(CMC_MODES)}")

    def ema_momentum_for(self, seconds: float) -> float:
        """The EMA's m for an update `seconds` of video after the previous processed frame."""
        if self.ema_s <= 0 or seconds <= 0:
            return self.ema_momentum
        return max(self.ema_momentum, math.exp(-seconds / self.ema_s))

    def max_age_frames(self, fps: float) -> int:
        return self.max_age if self.max_age is not None else seconds_to_frames(self.max_age_s, fps)


@dataclass
class MemoryConfig:
    """Long-term memory: ended or lost tracks become dormant entities a new track can re-claim.

    Timings are seconds of video (`*_s`); the old frame keys still work and win when given.
    """

    enabled: bool = True  # False = every confirmed track is a new entity (still recorded)
    reid_threshold: float | None = None  # prior cosine similarity; None = the backend's suggestion, else 0.75
    class_thresholds: dict = field(default_factory=dict)  # per-class fixed bars {name: threshold} (no calibration)
    max_gap_s: float | None = 120.0  # dormant entities stop being candidates after this long away; None = never
    max_gap_frames: int | None = None  # the same in video frames (old key); wins over max_gap_s when given
    gallery_size: int = 32  # embeddings kept per entity
    max_entities: int = 1000  # dormant entities kept (oldest forgotten first): bounded memory
    # Time after confirmation during which a new entity may still be recognised as a returning
    # one (objects re-enter half visible); its first observations are relabelled.
    late_reid_s: float = 1.5
    late_reid_frames: int | None = None  # the same in video frames (old key); wins when given
    clips: bool = True  # backends with encode_clips: re-ID on clip embeddings of a tracklet's crops
    # A claim must be reachable: no farther from where the entity was last seen than this video's
    # tracked objects move in the time between (twice their 99th-percentile speed, + 1 box height).
    speed_limit: bool = True
    # ... and look more like the entity than like every entity seen while it was (certainly other
    # objects: a track that swapped onto another person, a look-alike), as the offline linker's
    # rival rule asks. benchmarks/README.md, "The memory's rivals".
    rivals: bool = True

    def __post_init__(self) -> None:
        if self.late_reid_frames is not None and (
            not isinstance(self.late_reid_frames, int) or isinstance(self.late_reid_frames, bool) or self.late_reid_frames < 0
        ):
            raise ConfigError(f"memory.late_reid_frames must be an integer >= 0, got {self.late_reid_frames!r}")
        if isinstance(self.late_reid_s, bool) or not isinstance(self.late_reid_s, (int, float)) or not self.late_reid_s >= 0:
            raise ConfigError(f"memory.late_reid_s must be a number of seconds >= 0, got {self.late_reid_s!r}")
        if self.reid_threshold is not None:
            _check_range(self, "memory", "reid_threshold", -1.0, 1.0)
        for name, value in self.class_thresholds.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not -1.0 <= value <= 1.0:
                raise ConfigError(f"memory.class_thresholds.{name}: expected a cosine similarity in [-1, 1], got {value!r}")
        if self.max_gap_frames is not None:
            _check_positive_int(self, "memory", ("max_gap_frames",))
        if self.max_gap_s is not None:
            _check_positive_seconds(self, "memory", ("max_gap_s",))
        _check_positive_int(self, "memory", ("gallery_size", "max_entities"))

    def max_gap(self, fps: float) -> int | None:
        if self.max_gap_frames is not None:
            return self.max_gap_frames
        return None if self.max_gap_s is None else seconds_to_frames(self.max_gap_s, fps)

    def late_reid(self, fps: float) -> int:
        if self.late_reid_frames is not None:
            return self.late_reid_frames
        return int(round(self.late_reid_s * fps))


CMC_MODES = ("auto", "on", "off")
DEFAULT_FPS = 25.0  # frame rate assumed when a video declares none (or a caller gives none)


def seconds_to_frames(seconds: float, fps: float | None) -> int:
    """At least one frame, so a short duration never disables what it bounds."""
    rate = fps if fps is not None and fps > 0 else DEFAULT_FPS
    return max(1, int(round(seconds * rate)))


def _check_positive_seconds(section: Any, where: str, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(section, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ConfigError(f"{where}.{name} must be a positive number of seconds, got {value!r}")


def _finite_nonnegative(value: Any) -> bool:
    """A number (not a bool) in [0, inf)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and 0 <= value < float("inf")


def _check_range(section: Any, where: str, name: str, low: float, high: float) -> None:
    value = getattr(section, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(f"{where}.{name} must be a number in [{low:g}, {high:g}], got {value!r}")


def _check_fraction(section: Any, where: str, names: tuple[str, ...]) -> None:
    for name in names:
        _check_range(section, where, name, 0.0, 1.0)


def _check_positive_int(section: Any, where: str, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(section, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{where}.{name} must be a positive integer, got {value!r}")


@dataclass
class OutputConfig:
    """Where and what to write."""

    out_dir: str = "runs"
    episode: str | None = None  # default: the video's stem
    save_video: bool = False
    thumbnails: bool = True


SECTIONS: dict[str, type] = {
    "video": VideoConfig,
    "detection": DetectionConfig,
    "embedding": EmbeddingConfig,
    "tracking": TrackingConfig,
    "memory": MemoryConfig,
    "output": OutputConfig,
}

PRESETS: dict[str, dict] = {
    "dinov2": {"embedding": {"backend": "dinov2", "pooling": "auto"}},
    "dinov3": {"embedding": {"backend": "dinov3", "pooling": "auto"}},
    "vjepa2": {"embedding": {"backend": "vjepa2", "pooling": "crop"}},
    "mobilenetv2": {"embedding": {"backend": "mobilenetv2", "pooling": "crop"}},
    "histogram": {"embedding": {"backend": "histogram", "pooling": "crop"}},
}


@dataclass
class PerceptionConfig:
    """Everything `PerceptionEngine` needs; build it from a preset, a dict or a YAML file."""

    detection: DetectionConfig = field(default_factory=DetectionConfig)
    embedding: EmbeddingConfig = field(default_factory=EmbeddingConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    video: VideoConfig = field(default_factory=VideoConfig)

    @classmethod
    def from_dict(cls, data: dict) -> "PerceptionConfig":
        """Build from `{section: {key: value}}`; unknown sections/keys and wrong types name the key."""
        if not isinstance(data, dict):
            raise ConfigError(f"perception: expected a mapping of sections, got {type(data).__name__}")
        unknown = sorted(set(data) - set(SECTIONS))
        if unknown:
            raise ConfigError(f"perception.{unknown[0]}: unknown section; known: {', '.join(SECTIONS)}")
        built = {}
        tracking = data.get("tracking") or {}
        token = _MOTION_ONLY.set(isinstance(tracking, dict) and tracking.get("appearance") is False)
        try:
            for name, section_cls in SECTIONS.items():
                built[name] = build_section(section_cls, data.get(name) or {}, f"perception.{name}")
        finally:
            _MOTION_ONLY.reset(token)
        return cls(**built)

    @classmethod
    def from_yaml(cls, path: str | Path, overrides: dict | None = None, preset: str | None = None) -> "PerceptionConfig":
        return build_config(preset=preset, yaml_path=path, overrides=overrides)

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> "PerceptionConfig":
        return build_config(preset=name, overrides=overrides or None)

    @classmethod
    def dinov2_preset(cls) -> "PerceptionConfig":
        return cls.preset("dinov2")

    @classmethod
    def dinov3_preset(cls) -> "PerceptionConfig":
        return cls.preset("dinov3")

    @classmethod
    def vjepa2_preset(cls) -> "PerceptionConfig":
        return cls.preset("vjepa2")

    @classmethod
    def mobilenetv2_preset(cls) -> "PerceptionConfig":
        return cls.preset("mobilenetv2")

    @classmethod
    def histogram_preset(cls) -> "PerceptionConfig":
        return cls.preset("histogram")

    def to_dict(self) -> dict:
        return {name: section_to_dict(getattr(self, name)) for name in SECTIONS}


def section_to_dict(section: Any) -> dict:
    return {f.name: copy.deepcopy(getattr(section, f.name)) for f in dataclasses.fields(section)}


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _type_name(hint: Any) -> str:
    return str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")


def build_section(section_cls: type, data: Any, where: str) -> Any:
    """One config dataclass from a dict, with errors naming `where.key`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {quote(repr(data))}")
    on_off = getattr(section_cls, "ON_OFF", ())  # `cmc: off` unquoted arrives as False: read it as the word
    data = {k: ("on" if v else "off") if k in on_off and isinstance(v, bool) else v for k, v in data.items()}
    hints = typing.get_type_hints(section_cls)
    known = {f.name for f in dataclasses.fields(section_cls)} | (
        {"dinov3_weights_dir"} if section_cls is EmbeddingConfig else set()
    )
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{where}.{_key(key)}: unknown key; known keys: {', '.join(sorted(known))}")
        hint = hints.get(key)
        if isinstance(hint, InitVar):
            hint = hint.type
        if hint is not None and not _type_ok(value, hint):
            raise ConfigError(f"{where}.{key}: expected {_type_name(hint)}, got {type(value).__name__} {quote(repr(value))}")
        _check_text(value, f"{where}.{key}")
    values = dict(data)
    for key, hint in hints.items():  # YAML has no float literal for "1"; accept ints where floats are expected
        if key in values and hint is float and isinstance(values[key], int):
            values[key] = float(values[key])
    try:
        return section_cls(**values)
    except UnknownBackendError:
        raise  # its message is the one the Python API gives, word for word
    except ConfigError as exc:
        message = str(exc)
        section = where.split(".")[-1]
        prefixed = message.startswith(("perception", where, f"{section}.", f"{section}:"))
        raise ConfigError(message if prefixed else f"{where}: {message}") from None


def _key(key: Any) -> str:
    """A key as it goes into `section.key` in a message: short keys as they are, long ones cut (user input)."""
    text = str(key)
    return text if len(text) <= 80 else quote(text)


def _check_text(value: Any, where: str) -> None:
    """No NUL characters in strings (paths, names): they reach open() and FFmpeg as a ValueError traceback."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ConfigError(f"{where}: {quote(value)} contains a NUL character; remove it")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, where)
            _check_text(item, f"{where}.{_key(key)}")
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_text(item, where)


def deep_merge(base: dict, override: dict) -> dict:
    """Recursively merge; values of `override` win, None values in `override` are ignored."""
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if value is None:
            continue
        if isinstance(value, dict):
            merged[key] = deep_merge(merged[key] if isinstance(merged.get(key), dict) else {}, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# A config file is a few hundred bytes; the bounds stop "billion laughs" files, /dev/zero and deep
# nesting (PyYAML recurses per level) before they cost memory or end in a RecursionError traceback.
MAX_CONFIG_BYTES = 1 * 2**20
MAX_YAML_DEPTH = 32


def _yaml_loader(path: Path) -> type:
    """PyYAML's SafeLoader, stricter: no aliases, bounded depth, text keys only, no duplicate keys."""
    import yaml

    def where(node_or_event: Any) -> str:
        return f"config file {path} line {node_or_event.start_mark.line + 1}"

    class StrictLoader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise ConfigError(
                    f"{where(event)}: YAML aliases (*{_key(event.anchor)}) are not supported (they can expand without "
                    "bound); write the value out in full"
                )
            self.depth += 1
            try:
                if self.depth > MAX_YAML_DEPTH:
                    raise ConfigError(f"{where(self.peek_event())}: nested deeper than {MAX_YAML_DEPTH} levels; a config needs 4")
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def construct_mapping(self, node: Any, deep: bool = False) -> dict:
            if isinstance(node, yaml.MappingNode):
                self.flatten_mapping(node)
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise ConfigError(
                        f"{where(key_node)}: key {clip(repr(key))} is a {type(key).__name__}; keys must be names (text)"
                    )
                if key in seen:
                    raise ConfigError(
                        f"{where(key_node)}: duplicate key {_key(key)!r} (first on line {seen[key]}); keep one of the two"
                    )
                seen[key] = key_node.start_mark.line + 1
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def read_config_text(path: Path) -> str:
    """The text of a config file: a regular file under MAX_CONFIG_BYTES, UTF-8 (a BOM is fine)."""
    from .files import check_size, regular_file

    info = regular_file(path, "config file", ConfigError, "pass the YAML file with --config")
    check_size(path, info.st_size, MAX_CONFIG_BYTES, "config file", ConfigError)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
        check_size(path, len(data), MAX_CONFIG_BYTES, "config file", ConfigError)
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a UTF-8 text file; pass a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror}); check its permissions") from None
    if "\x00" in text:
        raise ConfigError(f"config file {path} holds NUL bytes, so it is not a text file; pass a YAML file")
    return text


def load_yaml(path: str | Path) -> dict:
    """The `perception:` mapping of a YAML file (a strict safe_load; every section a mapping)."""
    import yaml

    path = Path(path)
    text = read_config_text(path)
    loader = _yaml_loader(path)(text)  # what yaml.safe_load does, with the stricter loader
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:  # deep nesting inside one flow collection the depth check has not reached
        raise ConfigError(f"config file {path}: nested deeper than {MAX_YAML_DEPTH} levels; a config needs 4") from None
    finally:
        loader.dispose()
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"perception"}:
        extra = sorted(set(data) - {"perception"}) if isinstance(data, dict) else []
        hint = f"unknown top-level key {_key(extra[0])!r}" if extra else "expected a mapping"
        raise ConfigError(f"config file {path}: {hint}; put settings under 'perception:'")
    perception = data.get("perception")
    if perception is None:
        return {}
    if not isinstance(perception, dict):
        raise ConfigError(f"config file {path}: perception must be a mapping of sections, got {type(perception).__name__}")
    for name, section in perception.items():
        if section is not None and not isinstance(section, dict):  # else an override would silently replace it
            raise ConfigError(
                f"config file {path}: perception.{_key(name)} must be a mapping of keys, got {type(section).__name__} "
                f"{quote(repr(section))}"
            )
    return perception


def build_config(preset: str | None = None, yaml_path: str | Path | None = None, overrides: dict | None = None) -> PerceptionConfig:
    """Defaults < preset < YAML < overrides (e.g. command-line options; None values are ignored)."""
    merged: dict = {}
    if preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
        merged = deep_merge(merged, PRESETS[preset])
    if yaml_path is not None:
        merged = deep_merge(merged, load_yaml(yaml_path))
    merged = deep_merge(merged, overrides or {})
    return PerceptionConfig.from_dict(merged)
