"""Episode writers: everything goes into a hidden staging folder and is moved into place at the end.

A crash, Ctrl-C or a full disk therefore never leaves a `tracks.txt` that parses or a `run.json`
that says `complete: true` next to partial results. Observations and embeddings are appended to
disk as they come, so memory does not grow with the length of the video.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError
from .types import TrackedObject

EPISODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def episode_dir(out_dir: str | os.PathLike, episode: str) -> Path:
    """`<out>/<episode>`, refusing names that would escape `out` or hide the folder."""
    if not EPISODE_NAME.match(episode) or ".." in episode:
        raise ConfigError(
            f"episode name {episode!r} is not allowed: use letters, digits, '.', '_' and '-' only "
            "(no path separators, no '..', not starting with '.')"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"output folder {out} is a file; choose another --out")
    for parent in out.absolute().parents:
        if parent.exists() and not parent.is_dir():
            raise ConfigError(f"output folder {out} is under {parent}, which is a file; choose another --out")
    return out / episode


def write_json_atomic(path: Path, data: Any) -> None:
    """JSON via a temporary name and a rename: readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class EpisodeWriter:
    """Streams one episode's outputs into a staging folder; `commit()` moves it to `<out>/<episode>`."""

    def __init__(self, target: Path, embedding_dim: int) -> None:
        self.target = target
        self.embedding_dim = embedding_dim
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            self.staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
            self.staging.mkdir()
        except OSError as exc:
            raise ConfigError(f"cannot create output folder {target.parent}: {exc.strerror}; choose another --out") from None
        (self.staging / "thumbnails").mkdir()
        self._txt = open(self.staging / "tracks.txt", "w", encoding="utf-8")
        self._jsonl = open(self.staging / "tracks.jsonl", "w", encoding="utf-8")
        self._raw = open(self.staging / "embeddings.f32", "wb")
        self.rows = 0

    def write_run(self, run: dict) -> None:
        write_json_atomic(self.staging / "run.json", run)

    def observe(self, frame_index: int, time_s: float, obj: TrackedObject, embedding: np.ndarray | None) -> int:
        """Append one observation to tracks.txt, tracks.jsonl and embeddings; returns its row."""
        x1, y1, x2, y2 = (float(v) for v in obj.box)
        frame = frame_index + 1  # MOTChallenge frames are 1-based
        self._txt.write(f"{frame},{obj.entity_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{obj.score:.4f},-1,-1,-1\n")
        row = self.rows
        has_embedding = embedding is not None and self.embedding_dim > 0
        record = {
            "frame": frame,
            "time_s": round(time_s, 4),
            "entity_id": obj.entity_id,
            "track_id": obj.track_id,
            "class": obj.label,
            "bbox_xyxy": [round(x1, 2), round(y1, 2), round(x2, 2), round(y2, 2)],
            "conf": round(float(obj.score), 4),
            "embedding_row": row if has_embedding else None,
        }
        self._jsonl.write(json.dumps(record) + "\n")
        if self.embedding_dim > 0:
            vector = embedding if has_embedding else np.full(self.embedding_dim, np.nan, np.float32)
            self._raw.write(np.asarray(vector, dtype="<f4").tobytes())
        self.rows += 1
        return row

    def thumbnail(self, entity_id: int, image_rgb: np.ndarray) -> str:
        import cv2

        name = f"thumbnails/{entity_id}.jpg"
        if not cv2.imwrite(str(self.staging / name), np.ascontiguousarray(image_rgb[:, :, ::-1])):
            raise OSError(f"could not write {name}")
        return name

    def _finish_embeddings(self) -> None:
        """Raw float32 rows -> embeddings.npy, streamed so the array is never all in memory."""
        self._raw.close()
        raw_path = self.staging / "embeddings.f32"
        header_shape = (self.rows, self.embedding_dim)
        with open(self.staging / "embeddings.npy", "wb") as out, open(raw_path, "rb") as raw:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": header_shape})
            shutil.copyfileobj(raw, out, length=1 << 20)
            out.flush()
            os.fsync(out.fileno())
        raw_path.unlink()

    def close_streams(self) -> None:
        for handle in (self._txt, self._jsonl):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self._finish_embeddings()

    def commit(self, memory: dict, run: dict) -> Path:
        """Finish every file, write run.json (complete) last, then move the folder into place."""
        write_json_atomic(self.staging / "memory.json", memory)
        write_json_atomic(self.staging / "run.json", run)
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(self.target, old)
        os.replace(self.staging, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def abort(self) -> None:
        """Remove the staging folder: a failed run leaves nothing that looks like a result."""
        for handle in (self._txt, self._jsonl, self._raw):
            try:
                handle.close()
            except OSError:
                pass
        shutil.rmtree(self.staging, ignore_errors=True)
