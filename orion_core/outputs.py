"""Episode writers: everything goes into a hidden staging folder and is moved into place at the end.

A crash, Ctrl-C or a full disk therefore never leaves a `tracks.txt` that parses or a `run.json`
that says `complete: true` next to partial results. Observations and embeddings are appended to
disk as they come, so memory does not grow with the length of the video.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .errors import ConfigError, OrionError
from .types import TrackedObject

EPISODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
CANDIDATES = "thumbnails/.tracks"  # per-tracklet candidate thumbnails, staging only
EMBEDDING_BLOCK = 4096  # rows copied at a time when embeddings.npy is rewritten


def episode_dir(out_dir: str | os.PathLike, episode: str) -> Path:
    """`<out>/<episode>`, refusing names that would escape `out` or hide the folder."""
    if not EPISODE_NAME.match(episode) or ".." in episode:
        raise ConfigError(
            f"episode name {episode!r} is not allowed: use letters, digits, '.', '_' and '-' only "
            "(no path separators, no '..', not starting with '.')"
        )
    out = Path(out_dir)
    # os.path's checks answer False instead of raising under folders the user may not enter;
    # creating the folder then fails with a one-line error of its own
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"output folder {out} is a file; choose another --out")
    for parent in out.absolute().parents:
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise ConfigError(f"output folder {out} is under {parent}, which is a file; choose another --out")
    return out / episode


def write_error(exc: OSError, target: Path) -> OrionError:
    """A failed write as one line: a full disk says so, anything else names the reason."""
    if exc.errno in DISK_FULL:
        return OrionError(
            f"disk full while writing {target}; this run's partial outputs were removed: "
            "free some space or choose another --out, then run again"
        )
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OrionError(
        f"cannot write {target} ({reason}); this run's partial outputs were removed: "
        "check the output folder or choose another --out"
    )


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
            if exc.errno in DISK_FULL:
                raise write_error(exc, target) from None
            raise ConfigError(f"cannot create output folder {target.parent}: {exc.strerror}; choose another --out") from None
        self.rows = 0
        try:
            (self.staging / "thumbnails").mkdir()
            self._txt = open(self.staging / "tracks.txt", "w", encoding="utf-8")
            self._jsonl = open(self.staging / "tracks.jsonl", "w", encoding="utf-8")
            self._raw = open(self.staging / "embeddings.f32", "wb")
        except BaseException as exc:  # Ctrl-C included: the staging folder must not outlive us
            self.abort()
            if isinstance(exc, OSError):
                raise write_error(exc, target) from exc
            raise

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Turn an OSError (disk full, folder gone, quota) into one OrionError naming the episode."""
        try:
            yield
        except OSError as exc:
            raise write_error(exc, self.target) from exc

    def write_run(self, run: dict) -> None:
        with self.writing():
            write_json_atomic(self.staging / "run.json", run)

    def observe(
        self, frame_index: int, time_s: float, obj: TrackedObject, embedding: np.ndarray | None, box: np.ndarray | None = None
    ) -> int:
        """Append one observation to tracks.txt, tracks.jsonl and embeddings; returns its row.

        `box` is the box to report (the tracker's filtered state), default the detection's;
        the detection itself is kept as `det_xyxy` for the offline pass.
        """
        with self.writing():
            return self._observe(frame_index, time_s, obj, embedding, obj.box if box is None else box)

    def _observe(self, frame_index: int, time_s: float, obj: TrackedObject, embedding: np.ndarray | None, box: np.ndarray) -> int:
        frame = frame_index + 1  # MOTChallenge frames are 1-based
        row = self.rows
        has_embedding = embedding is not None and self.embedding_dim > 0
        self._txt.write(mot_line(frame, obj.entity_id, box, obj.score))
        record = track_record(frame, time_s, obj.entity_id, obj.track_id, obj.label, box, obj.score,
                              row if has_embedding else None, obj.box)
        self._jsonl.write(json.dumps(record) + "\n")
        if self.embedding_dim > 0:
            vector = embedding if has_embedding else np.full(self.embedding_dim, np.nan, np.float32)
            self._raw.write(np.asarray(vector, dtype="<f4").tobytes())
        self.rows += 1
        return row

    def track_thumbnail(self, track_id: int, image_rgb: np.ndarray) -> None:
        """A candidate thumbnail per tracklet; `finish_thumbnails` keeps each entity's best one."""
        (self.staging / CANDIDATES).mkdir(exist_ok=True)
        self._write_jpeg(f"{CANDIDATES}/{track_id}.jpg", image_rgb)

    def finish_thumbnails(self, chosen: dict[int, int]) -> None:
        """entity id -> the tracklet whose candidate becomes thumbnails/<entity>.jpg; the rest go."""
        folder = self.staging / CANDIDATES
        with self.writing():
            for entity_id, track_id in chosen.items():
                source = folder / f"{track_id}.jpg"
                if source.exists():
                    os.replace(source, self.staging / f"thumbnails/{entity_id}.jpg")
            shutil.rmtree(folder, ignore_errors=True)

    def replace_tracks(self, rows: Any, embeddings: np.ndarray | None, had_embedding: np.ndarray) -> None:
        """Rewrite tracks.txt, tracks.jsonl and embeddings.npy (after close_streams) from final rows.

        `rows` is an `offline.FinalRows`: row i of every file is row i of `rows`; `rows.source`
        names the online row whose embedding it keeps (-1: interpolated, NaN embedding).
        `had_embedding[s]` says whether online row s had one. Each file is written under a
        temporary name and renamed, so a failure leaves the staging folder's previous files.
        """
        with self.writing():
            self._replace_tracks(rows, embeddings, had_embedding)

    def _replace_tracks(self, rows: Any, embeddings: np.ndarray | None, had_embedding: np.ndarray) -> None:
        dim = self.embedding_dim
        names = ("tracks.txt", "tracks.jsonl", "embeddings.npy")
        tmp = {name: self.staging / f".{name}.tmp" for name in names}
        with open(tmp["tracks.txt"], "w", encoding="utf-8") as txt, open(tmp["tracks.jsonl"], "w", encoding="utf-8") as jsonl:
            for i in range(len(rows)):
                source = int(rows.source[i])
                label = rows.labels[int(rows.label[i])]
                interpolated = source < 0
                has = dim > 0 and not interpolated and bool(had_embedding[source])
                txt.write(mot_line(int(rows.frame[i]), int(rows.entity[i]), rows.box[i], float(rows.conf[i])))
                record = track_record(int(rows.frame[i]), float(rows.time_s[i]), int(rows.entity[i]), int(rows.track[i]),
                                      label, rows.box[i], float(rows.conf[i]), i if has else None,
                                      None if interpolated else rows.det[i])
                if interpolated:
                    record["interpolated"] = True
                jsonl.write(json.dumps(record) + "\n")
            for handle in (txt, jsonl):
                handle.flush()
                os.fsync(handle.fileno())
        with open(tmp["embeddings.npy"], "wb") as out:
            np.lib.format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False, "shape": (len(rows), dim)})
            if dim > 0:
                for start in range(0, len(rows), EMBEDDING_BLOCK):
                    source = rows.source[start:start + EMBEDDING_BLOCK]
                    block = np.full((len(source), dim), np.nan, "<f4")
                    real = source >= 0
                    if embeddings is not None and real.any():
                        block[real] = embeddings[source[real]]
                    out.write(block.tobytes())
            out.flush()
            os.fsync(out.fileno())
        for name in names:
            os.replace(tmp[name], self.staging / name)
        self.rows = len(rows)

    def thumbnail(self, entity_id: int, image_rgb: np.ndarray) -> str:
        name = f"thumbnails/{entity_id}.jpg"
        self._write_jpeg(name, image_rgb)
        return name

    def _write_jpeg(self, name: str, image_rgb: np.ndarray) -> None:
        import cv2

        # encode in memory and write with Python: cv2.imwrite gives no reason when the disk is full
        ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(image_rgb[:, :, ::-1]))
        if not ok:
            raise ValueError(f"OpenCV could not encode a {image_rgb.shape} thumbnail")
        with self.writing(), open(self.staging / name, "wb") as handle:
            handle.write(jpeg.tobytes())

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
        with self.writing():
            for handle in (self._txt, self._jsonl):
                handle.flush()  # buffered rows hit the disk here: a full disk must fail now, not later
                os.fsync(handle.fileno())
                handle.close()
            self._finish_embeddings()

    def commit(self, memory: dict, run: dict) -> Path:
        """Finish every file, write run.json (complete) last, then move the folder into place."""
        with self.writing():
            write_json_atomic(self.staging / "memory.json", memory)
            write_json_atomic(self.staging / "run.json", run)
            old = None
            try:
                if self.target.exists():
                    old = self.target.parent / f".{self.target.name}.old-{uuid.uuid4().hex[:8]}"
                    os.replace(self.target, old)
                os.replace(self.staging, self.target)
            except BaseException:  # a full disk or Ctrl-C mid-swap: put the previous result back
                if old is not None and old.exists() and not self.target.exists():
                    os.replace(old, self.target)
                raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return self.target

    def abort(self) -> None:
        """Remove the staging folder: a failed run leaves nothing that looks like a result."""
        for handle in (getattr(self, name, None) for name in ("_txt", "_jsonl", "_raw")):
            if handle is None:
                continue
            try:
                handle.close()  # may flush into a full disk again; the folder goes anyway
            except OSError:
                pass
        shutil.rmtree(self.staging, ignore_errors=True)


def mot_line(frame: int, entity_id: int, box: Any, score: float) -> str:
    """One tracks.txt line (MOTChallenge: frame,id,left,top,w,h,conf,-1,-1,-1; frames 1-based)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    return f"{frame},{entity_id},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{score:.4f},-1,-1,-1\n"


def track_record(frame: int, time_s: float, entity_id: int, track_id: int, label: str, box: Any, score: float,
                 embedding_row: int | None, det_box: Any | None) -> dict:
    """One tracks.jsonl record; `det_xyxy` is the detection behind the reported box (None: interpolated)."""
    return {
        "frame": frame,
        "time_s": round(time_s, 4),
        "entity_id": entity_id,
        "track_id": track_id,
        "class": label,
        "bbox_xyxy": [round(float(v), 2) for v in box],
        "conf": round(float(score), 4),
        "embedding_row": embedding_row,
        "det_xyxy": None if det_box is None else [round(float(v), 2) for v in det_box],
    }
