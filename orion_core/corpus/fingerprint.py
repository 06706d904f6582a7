"""What makes an episode "the same run again": the video's identity and the config's hash.

`run.json` carries this fingerprint (written by the engine's run record), so a corpus rerun can
skip an episode by reading one small file: a stat() of the video and a hash of the config, no
decoding. Size + mtime is what rsync and make trust for "unchanged"; hashing the video's bytes
would cost as much I/O as processing it on a network filesystem.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

# Where the outputs go is not part of what they contain; the detections file is identified by its
# own absolute path, size and mtime (so `--detections det.txt` and a corpus's dets/ folder agree).
NOT_HASHED = {"output": ("out_dir", "episode"), "detection": ("detections",)}


def file_identity(path: str | os.PathLike | None) -> dict[str, Any] | None:
    """Absolute path, size and mtime (ns) of a file; None when it cannot be stat()ed."""
    if path is None:
        return None
    absolute = os.path.abspath(os.fspath(path))
    try:
        info = os.stat(absolute)
    except OSError:
        return {"path": absolute, "size": None, "mtime_ns": None}
    return {"path": absolute, "size": info.st_size, "mtime_ns": info.st_mtime_ns}


def config_hash(config) -> str:
    """sha256 of the config as the user set it (before devices resolve), minus output locations."""
    data = config.to_dict()
    for section, keys in NOT_HASHED.items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def fingerprint(video: str | os.PathLike, config) -> dict[str, Any]:
    """The record run.json keeps under "fingerprint"; the detections file counts as input too."""
    return {
        "video": file_identity(video),
        "detections": file_identity(config.detection.detections) if config.detection.detector == "mot" else None,
        "config_sha256": config_hash(config),
    }


def read_run(episode_path: Path) -> dict | None:
    """`<episode>/run.json`, or None when absent or unreadable (then the episode is redone)."""
    try:
        with open(episode_path / "run.json", encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def completed_run(episode_path: Path, expected: dict[str, Any]) -> dict | None:
    """The episode's run.json when it is complete and was made from the same video and config."""
    run = read_run(episode_path)
    if run is None or run.get("complete") is not True:
        return None
    if run.get("fingerprint") != expected or expected["video"].get("size") is None:
        return None
    return run
