"""Episode writers: everything goes into a hidden staging folder and is moved into place at the end.

A crash, Ctrl-C or a full disk therefore never leaves a `tracks.txt` that parses or a `run.json`
that says `complete: true` next to partial results. Observations and embeddings are appended to
disk as they come, so memory does not grow with the length of the video.
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import os
import re
import shutil
import sys
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from .episodes import check_replaceable, write_marker
from .errors import ConfigError, OrionError, quote
from .signals import handling
from .types import TrackedObject

log = logging.getLogger(__name__)
EPISODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # fullmatch: `$` would let a trailing newline in
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
CANDIDATES = "thumbnails/.tracks"  # per-tracklet candidate thumbnails, staging only
EMBEDDING_BLOCK = 4096  # rows copied at a time when embeddings.npy is rewritten


class EmbeddingRows:
    """A 2-D .npy file read by rows on demand, with plain reads rather than a memory map.

    A memory map counts every page it touched in the process's RSS until it is unmapped (and the
    kernel maps pages around each one read), so reading all of a long video's embeddings (the
    offline pass, then the rewrite) grew peak memory with the video: 2 KB a row at 512
    dimensions. Plain reads leave the file in the page cache, not in the process. Indexing with
    row numbers returns a copy, as fancy indexing of a `np.memmap` does; consecutive rows are read
    in one call.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self._file = open(path, "rb", buffering=0)
        try:
            version = np.lib.format.read_magic(self._file)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = read_header(self._file)
        except Exception:
            self._file.close()
            raise
        if fortran_order or len(shape) != 2:
            self._file.close()
            raise ValueError(f"{path}: expected a C-ordered 2-D array, got shape {shape}")
        self._offset = self._file.tell()
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, slice):
            rows = np.arange(*index.indices(self.shape[0]))
        else:
            rows = np.asarray(index)
            rows = np.flatnonzero(rows) if rows.dtype == bool else rows.astype(np.int64).reshape(-1)
        if len(rows) and (rows.min() < -self.shape[0] or rows.max() >= self.shape[0]):
            raise IndexError(f"row index out of range for {self.shape[0]} rows")
        rows = np.where(rows < 0, rows + self.shape[0], rows)
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        out = np.empty((len(rows), self.shape[1]), self.dtype)
        block = np.empty_like(out)
        row_bytes = self.shape[1] * self.dtype.itemsize
        cuts = np.flatnonzero(np.diff(ordered) != 1) + 1
        for a, b in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(ordered)].tolist()):
            if b > a:
                self._read_into(block[a:b], self._offset + int(ordered[a]) * row_bytes)
        out[order] = block
        return out

    def _read_into(self, target: np.ndarray, position: int) -> None:
        view = memoryview(target).cast("B")
        self._file.seek(position)
        done = 0
        while done < len(view):
            got = self._file.readinto(view[done:])
            if not got:
                raise OSError(f"embeddings file ended early at byte {position + done}")
            done += got

    def close(self) -> None:
        self._file.close()


def episode_dir(out_dir: str | os.PathLike, episode: str) -> Path:
    """`<out>/<episode>`, refusing names that would escape `out` or hide the folder."""
    if not isinstance(episode, str) or not EPISODE_NAME.fullmatch(episode) or ".." in episode:
        raise ConfigError(
            f"episode name {quote(episode)} is not allowed: use letters, digits, '.', '_' and '-' only "
            "(no spaces or path separators, no '..', not starting with '.'); name it with --episode NAME (episode=... in Python)"
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


def _create_error(exc: OSError, target: Path) -> OrionError:
    if exc.errno in DISK_FULL:
        return write_error(exc, target)
    return ConfigError(f"cannot create output folder {target.parent}: {exc.strerror}; choose another --out")


def make_output_folder(target: Path) -> None:
    """Create `<out>` (not the episode) with one-line errors."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _create_error(exc, target) from None


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
        make_output_folder(target)
        try:
            self.staging = target.parent / f".{target.name}.partial-{uuid.uuid4().hex[:8]}"
            self.staging.mkdir()
        except OSError as exc:
            raise _create_error(exc, target) from None
        self.rows = 0
        try:
            write_marker(self.staging, target.name)
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
        self, frame_index: int, time_s: float, obj: TrackedObject, embedding: np.ndarray | None, box: np.ndarray | None = None,
        backfilled: bool = False,
    ) -> int:
        """Append one observation to tracks.txt, tracks.jsonl and embeddings; returns its row.

        `box` is the box to report (the tracker's filtered state), default the detection's;
        the detection itself is kept as `det_xyxy` for the offline pass. `backfilled`: made while
        its track was tentative, written late (`Tracker.take_backfill`), marked for the pass.
        """
        with self.writing():
            return self._observe(frame_index, time_s, obj, embedding, obj.box if box is None else box, backfilled)

    def _observe(self, frame_index: int, time_s: float, obj: TrackedObject, embedding: np.ndarray | None, box: np.ndarray,
                 backfilled: bool = False) -> int:
        frame = frame_index + 1  # MOTChallenge frames are 1-based
        row = self.rows
        has_embedding = embedding is not None and self.embedding_dim > 0
        self._txt.write(mot_line(frame, obj.entity_id, box, obj.score))
        record = track_record(frame, time_s, obj.entity_id, obj.track_id, obj.label, box, obj.score,
                              row if has_embedding else None, obj.box)
        if backfilled:
            record["backfilled"] = True
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
                elif rows.backfilled is not None and rows.backfilled[i]:
                    record["backfilled"] = True
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
        """Finish every file, write run.json (complete) last, then swap the folder into place.

        The caller holds the episode's lock (episodes.EpisodeLock). Where the kernel offers it
        the swap is one atomic exchange, so there is no instant without an episode; elsewhere
        it is two renames, and a run killed between them leaves both folders for the next run
        to recover (episodes.recover). Signals wait until the new result is in place: once it
        is, the run has succeeded, whatever arrives while the old result is being removed.
        """
        with self.writing():
            write_json_atomic(self.staging / "memory.json", memory)
            write_json_atomic(self.staging / "run.json", run)
        with signals_deferred():
            with self.writing():
                check_replaceable(self.target, [])  # someone may have put a folder there meanwhile
                old = self._swap_into_place()
            if old is not None:
                _remove_quietly(old, self.target)
        return self.target

    def _swap_into_place(self) -> Path | None:
        """Move staging to the target; returns where the previous result went (to be removed)."""
        if not os.path.lexists(self.target):
            os.replace(self.staging, self.target)
            return None
        if _exchange(self.staging, self.target):
            return self.staging  # the staging name now holds the previous result
        old = self.target.parent / f".{self.target.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(self.target, old)
        try:
            os.replace(self.staging, self.target)
        except BaseException:  # a full disk mid-swap: put the previous result back
            if old.exists() and not os.path.lexists(self.target):
                os.replace(old, self.target)
            raise
        return old

    def abort(self) -> None:
        """Remove the staging folder: a failed run leaves nothing that looks like a result."""
        for handle in (getattr(self, name, None) for name in ("_txt", "_jsonl", "_raw")):
            if handle is None:
                continue
            try:
                handle.close()  # may flush into a full disk again; the folder goes anyway
            except OSError:
                pass
        with signals_deferred():  # a second Ctrl-C must not leave half a staging folder
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


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):  # glibc < 2.28, musl
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False  # this filesystem cannot exchange: fall back to two renames
    raise OSError(err, os.strerror(err), str(b))


def _remove_quietly(old: Path, target: Path) -> None:
    """Remove a replaced result; a failure only leaves a hidden folder the next run tidies."""
    trash = target.parent / f".{target.name}.trash-{uuid.uuid4().hex[:8]}"
    try:
        os.replace(old, trash)
    except OSError:
        trash = old
    shutil.rmtree(trash, ignore_errors=True)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP back for a few file-system steps that must not be cut.

    An interrupt that arrives meanwhile is logged and dropped: the steps finish quickly, and the
    run then ends the way those steps leave it (complete after a commit, clean after an abort).
    Off the main thread (embedded use) signals cannot be handled here and nothing changes.
    """
    caught: list[int] = []
    with handling(("SIGINT", "SIGTERM", "SIGHUP"), lambda signum, frame: caught.append(signum)):
        yield
    if caught:
        log.warning("an interrupt arrived while the episode folder was being swapped; the swap was finished first")
