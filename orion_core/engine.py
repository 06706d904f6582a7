"""PerceptionEngine: video -> detect -> embed -> track -> memory -> episode outputs.

Frames are read ahead in small chunks so the crops of several frames go to the backend in one
call (one call per frame starves a GPU), then tracked strictly in frame order.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import logging
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .config import PerceptionConfig
from .outputs import EpisodeWriter, episode_dir
from .types import Frame, TrackedObject

log = logging.getLogger(__name__)

DEFAULT_REID_THRESHOLD = 0.75
THUMBNAIL_SIDE = 128
Progress = Callable[[dict], None]


@dataclass
class EpisodeResult:
    """What a run produced: entities and tracklets in memory, everything else on disk."""

    episode: str
    path: Path
    entities: list[dict]
    tracks: list[dict]
    timings: dict[str, float]
    counts: dict[str, int]
    video: dict
    outputs: dict[str, Path] = field(default_factory=dict)
    complete: bool = True


class _Timer:
    """Per-stage wall-clock seconds, for run.json."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, started: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started


class _HeapTrimmer:
    """Hand the heap's free pages back to the OS between chunks (glibc `malloc_trim`).

    A backend's per-batch buffers (crops of every size, activations of varying batch sizes)
    fragment glibc's heap, and RSS then creeps up with video length although nothing leaks:
    PETS09 with mobilenetv2 on CPU grew to 2.2 GiB after 1,150 frames and was still rising.
    Trimming keeps it near 0.79 GiB between chunks and cut the 1x peak from 2.3 to 1.5 GiB at no
    measurable cost; pinning glibc's mmap threshold (M_MMAP_THRESHOLD) kept the peak flatter
    still but made embedding 65% slower (benchmarks/memory_rss.py, 2-core CPU). A no-op where
    the C library has no malloc_trim.
    """

    def __init__(self, interval_s: float = 0.5) -> None:
        self.interval_s = interval_s
        self._last = time.perf_counter()
        self._trim = None
        if sys.platform.startswith("linux"):
            try:
                self._trim = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError):  # not glibc (musl)
                pass

    def __call__(self) -> None:
        if self._trim is not None and time.perf_counter() - self._last >= self.interval_s:
            self._trim(0)
            self._last = time.perf_counter()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


class _EntityLedger:
    """Per-entity facts taken from what was actually written (so memory.json matches tracks.txt)."""

    def __init__(self) -> None:
        self.entities: dict[int, dict] = {}
        self.tracks: dict[int, dict] = {}
        self.best_quality: dict[int, float] = {}

    def add(self, frame: int, obj: TrackedObject, row: int | None) -> bool:
        """Record one observation; True when it is the entity's best view so far (new thumbnail)."""
        entity = self.entities.setdefault(
            obj.entity_id,
            {"id": obj.entity_id, "class": obj.label, "first_frame": frame, "last_frame": frame, "observations": 0, "track_ids": []},
        )
        entity["last_frame"] = frame
        entity["observations"] += 1
        track = self.tracks.setdefault(
            obj.track_id,
            {"track_id": obj.track_id, "entity_id": obj.entity_id, "class": obj.label, "first_frame": frame, "last_frame": frame, "observations": 0},
        )
        if obj.track_id not in entity["track_ids"]:
            entity["track_ids"].append(obj.track_id)
        track["last_frame"] = frame
        track["observations"] += 1
        x1, y1, x2, y2 = obj.box
        quality = float(obj.score) * float(np.sqrt(max(x2 - x1, 0) * max(y2 - y1, 0)))
        # a thumbnail is rewritten only for a clearly better view: bounded disk writes per entity
        if quality > 1.2 * self.best_quality.get(obj.entity_id, 0.0):
            self.best_quality[obj.entity_id] = quality
            if row is not None:
                entity["prototype_row"] = row
            return True
        return False


    def merge(self, aliases: dict[int, int], writer: EpisodeWriter) -> None:
        """Fold late re-identified entities into the ones they turned out to be."""
        for young_id, old_id in aliases.items():
            young = self.entities.pop(young_id, None)
            if young is None:
                continue
            old = self.entities.setdefault(old_id, dict(young, id=old_id, observations=0, track_ids=[]))
            old["first_frame"] = min(old["first_frame"], young["first_frame"])
            old["last_frame"] = max(old["last_frame"], young["last_frame"])
            old["observations"] += young["observations"]
            old["track_ids"] = sorted(old["track_ids"] + young["track_ids"], key=lambda t: self.tracks[t]["first_frame"])
            for track_id in young["track_ids"]:
                self.tracks[track_id]["entity_id"] = old_id
            young_quality = self.best_quality.pop(young_id, 0.0)
            better = young_quality > self.best_quality.get(old_id, 0.0)
            if better:
                self.best_quality[old_id] = young_quality
                if young.get("prototype_row") is not None:
                    old["prototype_row"] = young["prototype_row"]
            writer.move_thumbnail(young_id, old_id, keep_source=better)


def resolve_aliases(merged: dict[int, int]) -> dict[int, int]:
    """young -> final id, following chains (an entity merged into one that was merged later)."""
    resolved = {}
    for young in merged:
        target = merged[young]
        while target in merged:
            target = merged[target]
        resolved[young] = target
    return resolved


class PerceptionEngine:
    """Runs the whole pipeline for one video at a time with one configuration."""

    def __init__(self, config: PerceptionConfig | None = None, read_ahead: int = 16) -> None:
        self.config = config if config is not None else PerceptionConfig()
        self.read_ahead = max(1, int(read_ahead))
        self._embedder = None

    # -- pieces -----------------------------------------------------------------------------
    def embedder(self):
        """The VisualEmbedder (weights load once per engine), or None for motion-only tracking."""
        if not self.config.tracking.appearance:
            return None
        if self._embedder is None:
            from .embedder import VisualEmbedder

            self._embedder = VisualEmbedder(self.config.embedding)
        return self._embedder

    def reid_threshold(self, embedder) -> float:
        """Config value, else the backend's suggestion, else a conservative default."""
        if self.config.memory.reid_threshold is not None:
            return float(self.config.memory.reid_threshold)
        if embedder is not None:
            suggested = embedder.backend.info().get("reid_threshold")
            if suggested is not None:
                return float(suggested)
        return DEFAULT_REID_THRESHOLD

    def _chunks(self, frames: Iterator[Frame], timer: _Timer) -> Iterator[list[Frame]]:
        chunk: list[Frame] = []
        while True:
            started = time.perf_counter()
            frame = next(frames, None)
            timer.add("decode", started)
            if frame is None:
                break
            chunk.append(frame)
            if len(chunk) >= self.read_ahead:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    # -- the run ----------------------------------------------------------------------------
    def process_video(
        self,
        video: str | Path,
        episode: str | None = None,
        out_dir: str | Path | None = None,
        progress: Progress | None = None,
    ) -> EpisodeResult:
        """Process `video` and write `<out>/<episode>/`; returns the episode's summary."""
        from .annotate import Annotator
        from .detectors import make_detector
        from .tracking import EntityMemory, Tracker
        from .tracking.clips import ClipBank
        from .tracking.cmc import CameraMotion
        from .video import VideoWriter, open_video
        from .vision import crop_box

        cfg = self.config
        started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        timer = _Timer()
        episode = episode or cfg.output.episode or Path(video).stem
        target = episode_dir(out_dir if out_dir is not None else cfg.output.out_dir, episode)

        t = time.perf_counter()
        source = open_video(video, cfg.video)
        timer.add("decode", t)
        try:  # a bad detections file or weights folder must not leave the video open
            t = time.perf_counter()
            detector = make_detector(cfg.detection)
            timer.add("load_detector", t)
            t = time.perf_counter()
            embedder = self.embedder()
            timer.add("load_embedder", t)
        except BaseException:
            source.close()
            raise
        threshold = self.reid_threshold(embedder)
        fps = source.info.fps  # timings in seconds become frames at the declared rate (frame indices count video frames)
        memory = (
            EntityMemory(cfg.memory, reid_threshold=threshold, fps=fps) if (cfg.memory.enabled and embedder is not None) else None
        )
        clips = None
        if memory is not None and cfg.memory.clips and embedder.backend.has("encode_clips"):
            clips = ClipBank(embedder.encode_clips, cfg.embedding.clip_frames, memory.clip_calibration)
        tracker = Tracker(cfg.tracking, memory=memory, fps=fps, reid_threshold=threshold, clips=clips)
        camera = CameraMotion(cfg.tracking.cmc)
        dim = embedder.dim if embedder is not None else 0

        counts = {"frames": 0, "detections": 0, "dropped_boxes": 0, "embedded": 0, "not_embedded": 0, "observations": 0}
        run = self._run_record(video, source, embedder, threshold, started_at, complete=False)
        ledger = _EntityLedger()
        annotator = Annotator() if cfg.output.save_video else None
        trim_heap = _HeapTrimmer()
        video_writer = None
        writer = None
        try:
            writer = EpisodeWriter(target, dim)  # from here on, any failure removes the staging folder
            writer.write_run(run)
            if annotator is not None:
                fps = source.info.fps if source.info.fps > 0 else 25.0
                if cfg.video.fps:
                    fps = min(fps, cfg.video.fps)
                video_writer = VideoWriter(writer.staging / "annotated.mp4", fps=fps)
            for chunk in self._chunks(iter(source), timer):
                t = time.perf_counter()
                detections = detector.detect_batch(chunk)
                timer.add("detect", t)
                t = time.perf_counter()
                if embedder is not None:
                    embedded = embedder.embed_boxes([f.image for f in chunk], [d.boxes for d in detections])
                else:
                    embedded = [(None, None)] * len(chunk)
                timer.add("embed", t)
                for frame, dets, (rows, valid) in zip(chunk, detections, embedded):
                    t = time.perf_counter()
                    warp = camera.update(frame.image)
                    timer.add("camera_motion", t)
                    t = time.perf_counter()
                    objects = tracker.update(frame.index, dets, rows, valid, warp=warp, image=frame.image if clips else None)
                    timer.add("track", t)
                    t = time.perf_counter()
                    counts["frames"] += 1
                    counts["detections"] += len(dets)
                    counts["dropped_boxes"] += dets.dropped
                    if valid is not None:
                        counts["embedded"] += int(valid.sum())
                        counts["not_embedded"] += int(len(valid) - valid.sum())
                    for obj in objects:
                        vector = rows[obj.det_index] if rows is not None and valid[obj.det_index] else None
                        row = writer.observe(frame.index, frame.time_s, obj, vector)
                        counts["observations"] += 1
                        if ledger.add(frame.index + 1, obj, row if vector is not None else None) and cfg.output.thumbnails:
                            crop = crop_box(frame.image, obj.box, 0.05)
                            if crop is not None:
                                writer.thumbnail(obj.entity_id, _shrink(crop))
                    if video_writer is not None:
                        with writer.writing():
                            video_writer.write(annotator.draw(frame.image, objects, frame.index))
                    timer.add("write", t)
                trim_heap()
                if progress is not None:
                    progress(
                        {
                            "frames": counts["frames"],
                            "total": source.info.frame_count,
                            "tracks": len(ledger.tracks),
                            "entities": len(ledger.entities),
                        }
                    )
            t = time.perf_counter()
            tracker.finish()
            timer.add("track", t)
            t = time.perf_counter()
            if video_writer is not None:
                with writer.writing():
                    video_writer.close()
                video_writer = None
            writer.close_streams()
            aliases = resolve_aliases(memory.merged) if memory is not None else {}
            writer.relabel(aliases)
            ledger.merge(aliases, writer)
            entities = self._entities(ledger, memory)
            counts.update(tracks=len(ledger.tracks), entities=len(entities))
            counts["reidentified"] = sum(1 for e in entities if len(e["track_ids"]) > 1)
            run = self._run_record(video, source, embedder, threshold, started_at, complete=True)
            run["counts"] = counts
            run["warnings"] = self._warnings(source, detector, counts)
            run["tracker"] = getattr(tracker, "stats", {})
            run["tracker"]["camera_motion"] = camera.stats
            if clips is not None:
                run["tracker"]["clips"] = clips.stats
            timer.add("write", t)
            run["timings_s"] = {k: round(v, 4) for k, v in timer.seconds.items()}
            path = writer.commit({"entities": entities}, run)
        except BaseException:
            if video_writer is not None:
                video_writer.discard()
            if writer is not None:
                writer.abort()
            raise
        finally:
            source.close()
        outputs = {name: path / name for name in ("tracks.txt", "tracks.jsonl", "embeddings.npy", "memory.json", "run.json", "thumbnails")}
        if cfg.output.save_video:
            outputs["annotated.mp4"] = path / "annotated.mp4"
        return EpisodeResult(
            episode=episode,
            path=path,
            entities=entities,
            tracks=list(ledger.tracks.values()),
            timings=dict(timer.seconds),
            counts=counts,
            video=run["video"],
            outputs=outputs,
        )

    # -- records ----------------------------------------------------------------------------
    def _warnings(self, source, detector, counts: dict[str, int]) -> list[str]:
        """Odd but valid runs, said once on stderr (logging) and kept in run.json."""
        warnings = []
        status = source.status()
        if status["truncated"]:  # the video source has logged it already
            warnings.append(f"video truncated: {status['error']}; processed the {status['frames_decoded']} frames that decoded")
        found = counts["detections"] + counts["dropped_boxes"]
        if counts["dropped_boxes"]:
            message = (
                f"{counts['dropped_boxes']} of {found} boxes were ignored: wholly outside the frame, "
                "under a pixel wide or high after clipping to it, or not finite"
            )
            log.warning(message)
            warnings.append(message)
        read_to_end = not status["truncated"] and (
            self.config.video.max_frames is None or counts["frames"] < self.config.video.max_frames
        )
        fresh = detector.coverage_warnings(status["frames_decoded"]) if read_to_end else []
        if counts["detections"] == 0 and counts["frames"]:
            fresh.append(
                f"no detections in {counts['frames']} frames, so the outputs are empty; check the detector settings "
                "(--classes, --confidence, --min-score) or that the detections belong to this video"
            )
        for message in fresh:
            log.warning(message)
        return warnings + fresh

    def _entities(self, ledger: _EntityLedger, memory) -> list[dict]:
        """memory.json rows: what was written, plus the tracklet spans that make up each entity."""
        entities = []
        for entity in sorted(ledger.entities.values(), key=lambda e: e["id"]):
            tracklets = [
                {k: ledger.tracks[t][k] for k in ("track_id", "first_frame", "last_frame", "observations")}
                for t in entity["track_ids"]
            ]
            row = dict(entity, tracklets=tracklets)
            row.setdefault("prototype_row", None)
            row["thumbnail"] = f"thumbnails/{entity['id']}.jpg" if self.config.output.thumbnails else None
            entities.append(row)
        return entities

    def _run_record(self, video, source, embedder, threshold: float, started_at: str, complete: bool) -> dict:
        cfg = self.config
        config = cfg.to_dict()
        versions = {"orion-core": _version("orion-core"), "python": platform.python_version()}
        if embedder is not None:
            config["embedding"].update(
                device=embedder.config.device,
                precision=embedder.config.precision,
                embedding_dim=embedder.dim,
                pooling=embedder.pooling,
            )
            dist = embedder.backend.record.distribution
            if dist:
                versions[dist] = embedder.backend.record.version
        for dist in ("torch", "transformers", "timm", "ultralytics", "numpy", "av"):
            versions.setdefault(dist, _version(dist))
        config["memory"]["reid_threshold"] = threshold
        return {
            "complete": complete,
            "started_at": started_at,
            "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds") if complete else None,
            "video": {**source.info.to_dict(), **source.status()},
            "versions": versions,
            "config": config,
        }


def _shrink(image: np.ndarray) -> np.ndarray:
    """Thumbnails at most THUMBNAIL_SIDE pixels on their long side."""
    import cv2

    height, width = image.shape[:2]
    scale = THUMBNAIL_SIDE / max(height, width)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)
