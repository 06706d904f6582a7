"""Orion: persistent object identities from video.

Importing this package is cheap (no torch); heavy pieces load when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

# Every public name is imported on first use: `import orion_core` then costs next to nothing, so the
# `orion` command is past its imports, into code that handles Ctrl-C, within milliseconds of starting.
_LAZY = {
    **dict.fromkeys(
        ("DetectionConfig", "EmbeddingConfig", "MemoryConfig", "OutputConfig", "PerceptionConfig", "TrackingConfig", "VideoConfig"),
        "orion_core.config",
    ),
    **dict.fromkeys(
        ("ConfigError", "InputError", "OrionError", "PluginError", "UnknownBackendError", "WeightsError"), "orion_core.errors"
    ),
    "hookimpl": "orion_core.hookspecs",
    **dict.fromkeys(("get_backend", "installed_backends", "load_plugins"), "orion_core.plugins"),
    "VisualEmbedder": "orion_core.embedder",
    "PerceptionEngine": "orion_core.engine",
    "EpisodeResult": "orion_core.engine",
}
_ALIASES = {"load_backend": "get_backend"}

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from .config import (
        DetectionConfig,
        EmbeddingConfig,
        MemoryConfig,
        OutputConfig,
        PerceptionConfig,
        TrackingConfig,
        VideoConfig,
    )
    from .embedder import VisualEmbedder
    from .engine import EpisodeResult, PerceptionEngine
    from .errors import ConfigError, InputError, OrionError, PluginError, UnknownBackendError, WeightsError
    from .hookspecs import hookimpl
    from .plugins import get_backend, installed_backends, load_plugins

    load_backend = get_backend


def __getattr__(name: str) -> Any:
    target = _ALIASES.get(name, name)
    if target in _LAZY:
        value = getattr(import_module(_LAZY[target]), target)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'orion_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_ALIASES))


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
