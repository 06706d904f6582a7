"""Configuration objects, presets and YAML loading.

Precedence when the CLI builds a config: command-line options > YAML file > preset > defaults.
Unknown keys and wrong types are errors that name the key.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError, OrionError, PluginError, UnknownBackendError

POOLINGS = ("auto", "crop", "region")


@dataclass
class EmbeddingConfig:
    """Which backend embeds detections, and how.

    `backend=None` picks the first installed of vjepa2, dinov3, dinov2, else `histogram`.
    `embedding_dim` is filled from the plugin's `embedding_dim` hook (no weights loaded).
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
    options: dict = field(default_factory=dict)  # backend-specific extras, passed through
    dinov3_weights_dir: InitVar[str | None] = None  # seed-API alias of weights_dir

    def __post_init__(self, dinov3_weights_dir: str | None) -> None:
        from .device import DEVICES, PRECISIONS
        from .plugins import default_backend, get_backend

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
        if not isinstance(self.clip_frames, int) or self.clip_frames < 1:
            raise ConfigError(f"embedding.clip_frames must be a positive integer, got {self.clip_frames!r}")
        if self.backend is None:
            self.backend = default_backend()
        backend = get_backend(self.backend)  # UnknownBackendError lists what is installed
        if self.embedding_dim is None:
            self.embedding_dim = query_embedding_dim(backend, self)


def query_embedding_dim(backend: Any, config: EmbeddingConfig) -> int:
    """Ask the plugin for its dimension; anything but a positive int is the plugin's fault."""
    try:
        dim = backend.call("embedding_dim", config=config)
    except OrionError:
        raise
    except Exception as exc:
        raise PluginError(f"backend {backend.name!r}: embedding_dim failed: {type(exc).__name__}: {exc}") from exc
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise PluginError(f"backend {backend.name!r}: embedding_dim returned {dim!r}, expected a positive int")
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
    # the tracker's own confident matches (tracking/calibration.py), 0.6 until it has the evidence.
    max_appearance_distance: float | None = None
    appearance_weight: float = 0.9  # cost = w * appearance + (1 - w) * (1 - IoU); 0.9 best on PETS frames 1-400 (histogram and mobilenetv2)
    ema_momentum: float = 0.9  # track embedding = m * old + (1 - m) * new
    gallery_size: int = 16  # recent embeddings kept per track
    min_hits: int = 3  # observations before a new track is reported
    max_age_s: float = 3.0  # seconds a lost track is kept for re-association
    max_age: int | None = None  # the same in video frames (old key); wins over max_age_s when given
    per_class: bool = True  # never match across classes
    recovery_max_distance: float | None = None  # lost-track second chance; None = the calibrated re-ID bar
    recovery_radius: float = 3.0  # its loose spatial gate, in box sides around the last/predicted centre ...
    recovery_growth: float = 1.0  # ... plus this many box sides per second lost (a walker covers ~1 height/s)
    # Crops whose box is covered more than this fraction by another detection do not feed galleries
    # (they mostly show the occluder: 18% of PETS detections); 1.0 = learn from every crop.
    gallery_max_overlap: float = 0.25
    ema_skips_covered: bool = True  # covered crops do not update the short-term EMA either (False: they do)
    # Pairs where either side has no embedding: True = appearance term imputed as half the gate (one
    # cost scale for the whole assignment); False = plain 1 - IoU (the old, mixed scale).
    impute_missing_appearance: bool = True
    keep_displaced: bool = True  # a lost track whose entity a new track claimed lives on (False: it ends)
    calibrate: bool = True  # fit re-ID bar, margin and appearance gate per video; False = fixed prior
    cmc: str = "auto"  # camera motion compensation: auto (on when the camera moves) | on | off

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
        _check_positive_seconds(self, "tracking", ("max_age_s",))
        for name in ("recovery_radius", "recovery_growth"):
            if isinstance(getattr(self, name), bool) or not getattr(self, name) >= 0:
                raise ConfigError(f"tracking.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.cmc not in CMC_MODES:
            raise ConfigError(f"tracking.cmc: unknown mode {self.cmc!r}; use one of {', '.join(CMC_MODES)}")

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
        for name, section_cls in SECTIONS.items():
            built[name] = build_section(section_cls, data.get(name) or {}, f"perception.{name}")
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
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(section_cls)
    known = {f.name for f in dataclasses.fields(section_cls)} | (
        {"dinov3_weights_dir"} if section_cls is EmbeddingConfig else set()
    )
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{where}.{key}: unknown key; known keys: {', '.join(sorted(known))}")
        hint = hints.get(key)
        if isinstance(hint, InitVar):
            hint = hint.type
        if hint is not None and not _type_ok(value, hint):
            raise ConfigError(f"{where}.{key}: expected {_type_name(hint)}, got {type(value).__name__} {value!r}")
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


def load_yaml(path: str | Path) -> dict:
    """The `perception:` mapping of a YAML file (safe_load only)."""
    import yaml

    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory; pass the YAML file with --config")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; check the --config path")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not a text file; pass a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror}); check its permissions") from None
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"perception"}:
        extra = sorted(set(data) - {"perception"}) if isinstance(data, dict) else []
        hint = f"unknown top-level key {extra[0]!r}" if extra else "expected a mapping"
        raise ConfigError(f"config file {path}: {hint}; put settings under 'perception:'")
    return data.get("perception") or {}


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
