"""Orion: persistent object identities from video.

Importing this package is cheap (no torch); heavy pieces load when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from .config import (
    DetectionConfig,
    EmbeddingConfig,
    MemoryConfig,
    OutputConfig,
    PerceptionConfig,
    TrackingConfig,
    VideoConfig,
)
from .errors import ConfigError, InputError, OrionError, PluginError, UnknownBackendError, WeightsError
from .hookspecs import hookimpl
from .plugins import get_backend, installed_backends, load_plugins

__version__ = "0.2.0"

_LAZY = {
    "VisualEmbedder": "orion_core.embedder",
    "PerceptionEngine": "orion_core.engine",
    "EpisodeResult": "orion_core.engine",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'orion_core' has no attribute {name!r}")


load_backend = get_backend

__all__ = [
    "hookimpl",
    "EmbeddingConfig",
    "DetectionConfig",
    "TrackingConfig",
    "MemoryConfig",
    "OutputConfig",
    "VideoConfig",
    "PerceptionConfig",
    "VisualEmbedder",
    "PerceptionEngine",
    "EpisodeResult",
    "OrionError",
    "ConfigError",
    "UnknownBackendError",
    "PluginError",
    "WeightsError",
    "InputError",
    "get_backend",
    "load_backend",
    "installed_backends",
    "load_plugins",
]
