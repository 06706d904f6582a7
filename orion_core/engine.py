"""PerceptionEngine: video -> detect -> embed -> track -> memory -> episode outputs.

Frames are decoded ahead in a background thread and handed on in small chunks. With
`embedding.policy: all` a second thread detects and embeds the next chunk (the crops of several
frames in one backend call: one call per frame starves a GPU) while the main thread tracks the
current one. With `on_demand` the tracker's state at frame t decides which boxes of frame t need
an embedding (orion_core/tracking/ondemand.py), so those are embedded frame by frame. The
annotated video is drawn and encoded in a writer thread. All queues are bounded. At the end, the
offline pass (tracking/offline.py) rewrites the streamed rows, and every output file, the
thumbnails and annotated.mp4 are built from its result.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import logging
import platform
import sys
import time
from bisect import bisect_left
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, NamedTuple

import numpy as np

from .config import POLICIES, PerceptionConfig
from .episodes import EpisodeLock, check_replaceable, recover
from .exposure import ExposureGain, compensate
from .outputs import EmbeddingRows, EpisodeWriter, episode_dir, make_output_folder
from .signals import check_interrupted
from .stages import Consumer, Prefetch, StageTimer, set_torch_threads, timed
from .types import Frame, TrackedObject

if TYPE_CHECKING:
    from .tracking.cmc import CameraMotion
    from .tracking.ondemand import EmbedPlanner

log = logging.getLogger(__name__)

DEFAULT_REID_THRESHOLD = 0.75
THUMBNAIL_SIDE = 128
# Decoded frames held for one batch: 16 frames of 1080p are 100 MB; 16 of 8K would be 1.6 GB.
READ_AHEAD_BYTES = 256 * 2**20
DECODE_AHEAD = 4  # frames decoded ahead of detection (decoding is fast; this only hides its jitter)
WRITE_BEHIND = 8  # annotated frames waiting for the video encoder (render_annotated)
Progress = Callable[[dict], None]


class _CameraFrame(NamedTuple):
    """What the camera did in one frame: its motion since the previous one (None: still), whether
    that could not be followed (a cut), and the exposure gains to divide out (None: none)."""

    warp: np.ndarray | None
    lost: bool
    gain: np.ndarray | None


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


def view_quality(box: np.ndarray, score: float, covered: float, frame_size: tuple[int, int]) -> float:
    """How good a thumbnail a box makes: large, confident, not covered by another box, not cut by
    the frame edge (boxes are clipped to the frame, so a cut one touches it).

    The coverage term is squared: a half-covered view shows two objects and is worth a quarter.
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    width, height = frame_size
    cut = x1 <= 1.0 or y1 <= 1.0 or x2 >= width - 1.0 or y2 >= height - 1.0
    size = float(np.sqrt(max(x2 - x1, 0.0) * max(y2 - y1, 0.0)))
    return float(score) * size * (1.0 - min(max(covered, 0.0), 1.0)) ** 2 * (0.25 if cut else 1.0)


class _Thumbnails:
    """The best view of each tracklet so far (written to disk, not kept); entities pick at commit."""

    def __init__(self, save: bool) -> None:
        self.save = save  # False: only remember the best rows (prototype_row), write no images
        self.best: dict[int, tuple[float, int]] = {}  # track id -> (quality, online row)

    def offer(self, writer: EpisodeWriter, image: np.ndarray, obj: TrackedObject, row: int, quality: float) -> None:
        from .vision import crop_box

        known = self.best.get(obj.track_id)
        # a clearly better view only: bounded disk writes per tracklet
        if known is not None and quality <= 1.2 * known[0]:
            return
        if not self.save:
            self.best[obj.track_id] = (quality, row)
            return
        crop = crop_box(image, obj.box, 0.05)
        if crop is not None:
            writer.track_thumbnail(obj.track_id, _shrink(crop))
            self.best[obj.track_id] = (quality, row)


def entity_counts(entities: list[dict], aliases: dict[int, int], tracks: int,
                  dropped: list[int] | tuple[int, ...] = ()) -> dict[str, int]:
    """run.json `counts` about entities, named so they reconcile with `tracker.memory` (events):

    - `entities`: entities in the outputs. Memory's `entities` counts every one it founded,
      including `merged_entities`: young entities later found to be an older one (late
      re-identification, offline link) and folded into it, and `dropped_entities`: those the
      offline pass left out as unsupported (run.json `offline.dropped_entities` names them), so
      `entities + merged_entities + dropped_entities == memory.entities`. Their ids are the gaps
      in the output ids; run.json `merged_entities` maps each merged one to its target.
    - `reidentified`: entities seen in more than one tracklet; `reidentifications`: tracklets
      joined to an earlier entity (one entity may return many times) == memory's `reidentified`
      (plus offline links), counted over the entities in the outputs.
    """
    return {
        "tracks": tracks,
        "entities": len(entities),
        "merged_entities": len(aliases),
        "dropped_entities": len(dropped),
        "reidentified": sum(1 for e in entities if len(e["track_ids"]) > 1),
        "reidentifications": sum(len(e["track_ids"]) - 1 for e in entities),
    }


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
        self._detector = None  # (detection config, YOLO detector): its weights load once per engine

    # -- pieces -----------------------------------------------------------------------------
    def embedder(self):
        """The VisualEmbedder (weights load once per engine), or None for motion-only tracking."""
        if not self.config.tracking.appearance:
            return None
        if self._embedder is None:
            from .embedder import VisualEmbedder

            self._embedder = VisualEmbedder(self.config.embedding)
        return self._embedder

    def detector(self):
        """The detector for the next video. A YOLO model is stateless between videos, so it loads once
        per engine (a corpus worker reuses it); `mot` reads one video's file and `motion` learns one
        video's background, so those are made fresh for every video."""
        from .config import section_to_dict
        from .detectors import make_detector

        cfg = self.config.detection
        if cfg.detector != "yolo":
            return make_detector(cfg)
        key = section_to_dict(cfg)
        if self._detector is None or self._detector[0] != key:
            self._detector = (key, make_detector(cfg))
        return self._detector[1]

    def embedding_policy(self, embedder) -> str | None:
        """Config value, else the backend's suggestion, else on_demand (None: motion only)."""
        if embedder is None:
            return None
        if self.config.embedding.policy is not None:
            return self.config.embedding.policy
        suggested = embedder.backend.info().get("embedding_policy")
        return suggested if suggested in POLICIES else "on_demand"

    def reid_threshold(self, embedder) -> float:
        """Config value, else the backend's suggestion, else a conservative default."""
        if self.config.memory.reid_threshold is not None:
            return float(self.config.memory.reid_threshold)
        if embedder is not None:
            suggested = embedder.backend.info().get("reid_threshold")
            if suggested is not None:
                return float(suggested)
        return DEFAULT_REID_THRESHOLD

    def _chunks(self, frames: Iterator[Frame]) -> Iterator[list[Frame]]:
        """Frames in groups of `read_ahead`, or fewer once they hold READ_AHEAD_BYTES (large frames)."""
        chunk: list[Frame] = []
        held = 0
        for frame in frames:
            chunk.append(frame)
            held += frame.image.nbytes
            if len(chunk) >= self.read_ahead or held >= READ_AHEAD_BYTES:
                yield chunk
                chunk = []
                held = 0
        if chunk:
            yield chunk

    def _detect_ahead(self, frames: Iterator[Frame], detector, embedder, camera: CameraMotion, exposure: ExposureGain,
                      timer: StageTimer) -> Iterator[tuple]:
        """(chunk, detections, per-frame (rows, valid), per-frame `_CameraFrame`s) in frame order; runs in its own thread.

        With an `embedder` (policy `all`) every box is embedded here, the next chunk while the
        main thread tracks this one; without one the main thread embeds on demand (or not at all).
        The camera's motion and exposure are read here, frame after frame, before any crop is
        embedded: both need only the frame and its boxes, and the exposure follows the motion.
        """
        for chunk in self._chunks(frames):
            t = time.perf_counter()
            detections = detector.detect_batch(chunk)
            timer.add("detect", t)
            views = []
            for frame, dets in zip(chunk, detections):
                t = time.perf_counter()
                warp = camera.update(frame.image, dets.boxes)
                lost = camera.view_lost
                timer.add("camera_motion", t)
                t = time.perf_counter()
                views.append(_CameraFrame(warp, lost, exposure.update(frame.image, dets.boxes, warp, lost)))
                timer.add("exposure", t)
            embedded = [(None, None)] * len(chunk)
            if embedder is not None:
                t = time.perf_counter()
                embedded = embedder.embed_boxes([f.image for f in chunk], [d.boxes for d in detections],
                                                [v.gain for v in views])
                timer.add("embed", t)
            yield chunk, detections, embedded, views

    def _planner(self, embedder, fps: float) -> EmbedPlanner | None:
        """The on-demand planner, or None: embed every box (policy `all`) or none (motion only)."""
        from .tracking.ondemand import EmbedPlanner

        cfg = self.config
        if self.embedding_policy(embedder) != "on_demand":
            return None
        young = cfg.memory.late_reid(fps) if cfg.memory.enabled else 0  # memory's late re-ID window, in frames
        return EmbedPlanner(cfg.tracking, cfg.embedding.refresh_frames, young_frames=young)

    def _embed_on_demand(self, frame: Frame, dets, gain: np.ndarray | None, planner: EmbedPlanner, tracker, embedder,
                         timer: StageTimer) -> tuple:
        """(rows, valid) for one frame, with only the boxes the planner asks for embedded."""
        t = time.perf_counter()
        want = planner.select(frame.index, tracker.association_view(frame.index), dets)
        timer.add("track", t)
        rows = np.zeros((len(dets), embedder.dim), np.float32)
        valid = np.zeros(len(dets), bool)
        if want.any():
            t = time.perf_counter()
            ((sub_rows, sub_valid),) = embedder.embed_boxes([frame.image], [dets.boxes[want]], [gain])
            timer.add("embed", t)
            chosen = np.flatnonzero(want)
            rows[chosen], valid[chosen] = sub_rows, sub_valid
        return rows, valid

    # -- the run ----------------------------------------------------------------------------
    def process_video(
        self,
        video: str | Path,
        episode: str | None = None,
        out_dir: str | Path | None = None,
        progress: Progress | None = None,
        inputs: tuple[str | Path, ...] = (),
    ) -> EpisodeResult:
        """Process `video` and write `<out>/<episode>/`; returns the episode's summary.

        `inputs` names further files the run reads (a YAML config, say) that must never be
        replaced by the output; the video, detections and weights are added here.
        """
        from array import array

        from .tracking import EntityMemory, Tracker
        from .tracking.clips import ClipBank
        from .tracking.cmc import IDENTITY, CameraMotion
        from .tracking.offline import max_ioa
        from .video import open_video

        cfg = self.config
        started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        timer = StageTimer()
        wall = time.perf_counter()
        episode = episode or cfg.output.episode or Path(video).stem
        target = episode_dir(out_dir if out_dir is not None else cfg.output.out_dir, episode)
        protected = self._protected_inputs(video, inputs)
        check_replaceable(target, protected)  # before any work: say it now, not after the video

        t = time.perf_counter()
        source = open_video(video, cfg.video)
        timer.add("decode", t)
        try:  # a bad detections file or weights folder must not leave the video open
            t = time.perf_counter()
            detector = self.detector()
            timer.add("load_detector", t)
            t = time.perf_counter()
            embedder = self.embedder()
            timer.add("load_embedder", t)
        except BaseException:
            source.close()
            raise
        # only where a model uses torch: the histogram backend never imports it (2 s saved)
        threads = set_torch_threads(cfg.embedding.threads) if "torch" in sys.modules else None
        threshold = self.reid_threshold(embedder)
        fps = source.info.fps  # timings in seconds become frames at the declared rate (frame indices count video frames)
        memory = (
            EntityMemory(cfg.memory, reid_threshold=threshold, fps=fps) if (cfg.memory.enabled and embedder is not None) else None
        )
        clips = None
        if memory is not None and cfg.memory.clips and embedder.backend.has("encode_clips"):
            clips = ClipBank(embedder.encode_clips, cfg.embedding.clip_frames, memory.clip_calibration)
        tracker = Tracker(cfg.tracking, memory=memory, fps=fps, reid_threshold=threshold, clips=clips)
        exposure = ExposureGain(cfg.embedding.exposure if embedder is not None else "off")
        camera = CameraMotion(cfg.tracking.cmc, fps=min(fps, cfg.video.fps) if cfg.video.fps and fps > 0 else fps)  # calls per second
        dim = embedder.dim if embedder is not None else 0

        counts = {"frames": 0, "detections": 0, "dropped_boxes": 0, "embedded": 0, "not_embedded": 0, "observations": 0,
                  "backfilled": 0}
        run = self._run_record(video, source, embedder, threshold, started_at, complete=False)
        thumbnails = _Thumbnails(save=cfg.output.thumbnails)
        seen_tracks: set[int] = set()
        seen_entities: set[int] = set()
        # every processed frame (1-based) and its time: gap filling may only use frames the
        # online stage saw (video.fps sampling skips some); 16 bytes a frame
        processed_frames, processed_times = array("q"), array("d")
        camera_warps = array("d")  # the 2x3 camera warp the tracker applied, a processed frame (identity: none)
        frame_size = (source.info.width, source.info.height)
        trim_heap = _HeapTrimmer()
        total = source.expected_frames()
        stages: list = []  # background threads, stopped before the source closes
        writer = None
        lock = EpisodeLock(target)
        try:
            make_output_folder(target)
            lock.acquire()  # one run per episode; what is left over from others is from dead runs
            recover(target)
            check_replaceable(target, protected)
            writer = EpisodeWriter(target, dim)  # from here on, any failure removes the staging folder
            writer.write_run(run)
            # Queue depths bound the frames in flight (about 2 chunks + DECODE_AHEAD):
            # memory stays flat whatever the video's length.
            frames = Prefetch(lambda: timed(iter(source), timer, "decode"), DECODE_AHEAD, "orion-decode")
            stages.append(frames)
            planner = self._planner(embedder, fps)
            work = Prefetch(lambda: self._detect_ahead(frames, detector, embedder if planner is None else None, camera, exposure,
                                                       timer),
                            1, "orion-detect", timer)  # "idle" = the main thread waiting for it
            stages.append(work)
            for chunk, detections, embedded, views in work:
                for i, (frame, dets) in enumerate(zip(chunk, detections)):
                    check_interrupted()  # a Ctrl-C a library swallowed still stops the run here
                    view = views[i]
                    if planner is not None:
                        rows, valid = self._embed_on_demand(frame, dets, view.gain, planner, tracker, embedder, timer)
                    else:
                        rows, valid = embedded[i]
                    warp = view.warp
                    t = time.perf_counter()
                    objects = tracker.update(frame.index, dets, rows, valid, warp=warp,
                                             image=compensate(frame.image, view.gain) if clips else None,
                                             view_changed=view.lost)
                    timer.add("track", t)
                    if planner is not None:
                        planner.observe(frame.index, objects, valid)
                    t = time.perf_counter()
                    counts["frames"] += 1
                    counts["detections"] += len(dets)
                    counts["dropped_boxes"] += dets.dropped
                    if valid is not None:
                        counts["embedded"] += int(valid.sum())
                        counts["not_embedded"] += int(len(valid) - valid.sum())
                    processed_frames.append(frame.index + 1)
                    processed_times.append(frame.time_s)
                    camera_warps.extend((IDENTITY if warp is None else warp).reshape(-1).tolist())
                    for index, obj, vector in tracker.take_backfill():  # rows out of frame order: the offline pass sorts
                        box = obj.state_box if cfg.tracking.report_state and obj.state_box is not None else obj.box
                        time_s = processed_times[bisect_left(processed_frames, index + 1)]  # a frame processed before
                        writer.observe(index, time_s, obj, vector, box=box, backfilled=True)
                        counts["backfilled"] += 1
                    covered = max_ioa(dets.boxes.astype(np.float64)) if objects else None
                    for obj in objects:
                        vector = rows[obj.det_index] if rows is not None and valid[obj.det_index] else None
                        box = obj.state_box if cfg.tracking.report_state and obj.state_box is not None else obj.box
                        row = writer.observe(frame.index, frame.time_s, obj, vector, box=box)
                        counts["observations"] += 1
                        seen_tracks.add(obj.track_id)
                        seen_entities.add(obj.entity_id)
                        if covered is not None:  # item: thumbnails show the best view
                            quality = view_quality(obj.box, obj.score, covered[obj.det_index], frame_size)
                            thumbnails.offer(writer, frame.image, obj, row, quality)
                    timer.add("write", t)
                    if progress is not None:
                        progress(
                            {
                                "frames": counts["frames"],
                                "total": total,
                                "tracks": len(seen_tracks),
                                "entities": len(seen_entities),
                                "embedded": counts["embedded"],
                                "detections": counts["detections"],
                            }
                        )
                trim_heap()
            for stage in stages:
                stage.close()
            stages.clear()
            t = time.perf_counter()
            tracker.finish()
            timer.add("track", t)
            t = time.perf_counter()
            writer.close_streams()
            aliases = resolve_aliases(memory.merged) if memory is not None else {}
            timer.add("write", t)
            t = time.perf_counter()
            final = self._final_rows(writer, aliases, processed_frames, processed_times, frame_size, threshold, dim,
                                     camera_warps)
            timer.add("offline" if cfg.tracking.offline else "write", t)
            t = time.perf_counter()
            entities, tracks = _summaries(final.rows, final.had_embedding, thumbnails, cfg.output.thumbnails)
            if cfg.output.thumbnails:
                writer.finish_thumbnails({e["id"]: e.pop("_thumbnail_track") for e in entities if "_thumbnail_track" in e})
            for e in entities:
                e.pop("_thumbnail_track", None)
            merged = resolve_aliases({**aliases, **final.aliases})
            counts.update(entity_counts(entities, merged, tracks=len(tracks), dropped=final.report.get("dropped_entities", ())))
            counts.update(rows=len(final.rows), interpolated=int(final.rows.interpolated.sum()), offline_links=len(final.aliases),
                          dropped_rows=final.report.get("dropped_rows", 0), trimmed_rows=final.report.get("trimmed_rows", 0),
                          backfilled=final.report.get("backfilled_rows", 0), backfill_clashes=final.report.get("backfill_clashes", 0))
            counts["embedded_fraction"] = round(counts["embedded"] / counts["detections"], 4) if counts["detections"] else 0.0
            timer.add("write", t)
            if cfg.output.save_video:
                t = time.perf_counter()
                # drawn after the pass, from the final rows, so the video shows the final ids and boxes;
                # it costs a second decode of the video (run.json timings_s.annotate)
                render_annotated(video, cfg.video, writer.staging / "tracks.jsonl", writer.staging / "annotated.mp4",
                                 source.info.fps, writer, camera_warps=_moved_frames(processed_frames, camera_warps))
                timer.add("annotate", t)
            t = time.perf_counter()
            run = self._run_record(video, source, embedder, threshold, started_at, complete=True)
            run["counts"] = counts
            tracker_stats = getattr(tracker, "stats", {})
            run["warnings"] = ((embedder.warnings if embedder is not None else []) + self._warnings(source, detector, counts)
                               + self._reid_warnings(embedder, tracker_stats))
            run["tracker"] = tracker_stats
            run["merged_entities"] = {str(young): old for young, old in sorted(merged.items())}
            run["offline"] = final.report
            run["config"]["embedding"]["threads"] = threads
            if planner is not None:
                run["embedding_plan"] = dict(planner.counts)
            run["tracker"]["camera_motion"] = camera.stats
            run["exposure"] = exposure.stats
            if clips is not None:
                run["tracker"]["clips"] = clips.stats
            timer.add("write", t)
            run["timings_s"] = {k: round(v, 4) for k, v in timer.seconds.items()}
            run["timings_s"]["wall"] = round(time.perf_counter() - wall, 4)
            check_interrupted()
            path = writer.commit({"entities": entities}, run)
            log.info(
                "embedding policy %s: %d of %d boxes embedded (%.0f%%); torch threads %s; seconds: %s",
                self.embedding_policy(embedder) or "none", counts["embedded"], counts["detections"],
                100.0 * counts["embedded_fraction"], threads, ", ".join(f"{k} {v:.2f}" for k, v in run["timings_s"].items()),
            )
        except BaseException:
            for stage in stages:  # stop the threads before the files they use go away
                stage.abort() if isinstance(stage, Consumer) else stage.close()
            if writer is not None:
                writer.abort()
            raise
        finally:
            lock.release()
            source.close()
        outputs = {name: path / name for name in ("tracks.txt", "tracks.jsonl", "embeddings.npy", "memory.json", "run.json", "thumbnails")}
        if cfg.output.save_video:
            outputs["annotated.mp4"] = path / "annotated.mp4"
        return EpisodeResult(
            episode=episode,
            path=path,
            entities=entities,
            tracks=tracks,
            timings=dict(timer.seconds),
            counts=counts,
            video=run["video"],
            outputs=outputs,
        )

    def _protected_inputs(self, video: str | Path, extra: tuple[str | Path, ...]) -> list[Path]:
        """Every file the run reads: none of them may sit where the episode will be written."""
        cfg = self.config
        paths = [video, *extra, cfg.detection.detections, cfg.embedding.weights_dir]
        if cfg.detection.model and Path(cfg.detection.model).exists():
            paths.append(cfg.detection.model)
        return [Path(p) for p in paths if p]

    def process_videos(
        self,
        paths,
        workers: int | str = 1,
        executor: str = "local",
        *,
        out_dir: str | Path | None = None,
        recursive: bool = False,
        force: bool = False,
        ray_address: str | None = None,
        progress: Callable[[dict], None] | None = None,
    ) -> list:
        """Process many videos; returns one `orion_core.corpus.VideoResult` per video, in input order.

        `paths`: videos, folders of videos (sorted; subfolders with `recursive`) and `.txt` lists.
        Each video becomes the episode named by its stem under `out_dir`; an episode already complete
        for the same video and config is skipped unless `force`. A failing video is recorded
        (status "failed", a one-line `error`) and the others go on. `workers`: an integer or "auto";
        `executor`: "local" (this machine; workers > 1 are processes) or "ray" (`ray_address`, else a
        local Ray instance). With `detection.detector == "mot"`, `detection.detections` is a folder
        holding `<stem>.txt` or `<stem>/det/det.txt` per video. `<out>/corpus.json` lists the results.
        """
        from .corpus import run_corpus

        return run_corpus(
            self,
            paths,
            workers=workers,
            executor=executor,
            ray_address=ray_address,
            recursive=recursive,
            force=force,
            out_dir=out_dir,
            progress=progress,
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

    def _reid_warnings(self, embedder, tracker_stats: dict) -> list[str]:
        """A backend that cannot tell this video's objects apart switches re-identification off
        (calibration `uninformative`): "0 re-identified" should not leave the user guessing why."""
        from .tracking.calibration import MIN_AUC

        calibration = tracker_stats.get("calibration") or {}
        if embedder is None or not self.config.tracking.appearance or calibration.get("source") != "uninformative":
            return []
        message = (
            f"re-identification was off on this video: backend {embedder.name!r} did not tell its objects apart "
            f"well enough (same-object crops ranked above different objects with AUC {calibration['auc']:.2f}, under "
            f"{MIN_AUC}), so the memory merged nothing; check the weights (random, or trained for another domain?) "
            "or try another backend (run.json tracker.calibration)"
        )
        log.warning(message)
        return [message]

    def _final_rows(self, writer: EpisodeWriter, aliases: dict[int, int], frames, times, frame_size, threshold: float, dim: int,
                    camera_warps=None):
        """Apply late re-ID aliases and, unless `tracking.offline` is off, the offline pass; rewrite
        tracks.txt, tracks.jsonl and embeddings.npy from the result (one code path either way, so
        every output file is built from the same rows)."""
        from .tracking.offline import OfflineSettings, read_observations, run_pass

        tracking = self.config.tracking
        obs, file_row = read_observations(writer.staging / "tracks.jsonl").in_frame_order()
        if aliases:
            obs.entity = np.array([aliases.get(int(e), int(e)) for e in obs.entity], np.int64)
        settings = OfflineSettings.from_config(tracking, reid_prior=threshold)
        # Read by rows without keeping them resident: peak memory must not grow with the video.
        embeddings = EmbeddingRows(writer.staging / "embeddings.npy") if dim > 0 and len(obs) else None
        try:
            use = embeddings if tracking.appearance else None
            warps = np.frombuffer(camera_warps, np.float64).reshape(-1, 2, 3) if camera_warps else None
            result = run_pass(obs, use, settings, np.frombuffer(frames, np.int64), np.frombuffer(times, np.float64), frame_size,
                              warps)
            result.report["enabled"] = tracking.offline
            had = obs.emb_row >= 0
            if file_row is not None:  # back to rows of the staging files (embeddings, thumbnails)
                source = result.rows.source
                result.rows.source = np.where(source >= 0, file_row[np.maximum(source, 0)], -1)
                had = np.empty_like(had)
                had[file_row] = obs.emb_row >= 0
            result.had_embedding = had
            writer.replace_tracks(result.rows, embeddings, had)
        finally:
            if embeddings is not None:
                embeddings.close()
        return result

    def _run_record(self, video, source, embedder, threshold: float, started_at: str, complete: bool) -> dict:
        from .corpus.fingerprint import fingerprint

        cfg = self.config
        config = cfg.to_dict()
        versions = {"orion-core": _version("orion-core"), "python": platform.python_version()}
        if embedder is not None:
            config["embedding"].update(
                policy=self.embedding_policy(embedder),
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
            # video identity + config hash: a corpus rerun skips this episode when they still match
            "fingerprint": fingerprint(video, cfg),
        }


def _summaries(rows, had_embedding: np.ndarray, thumbnails: _Thumbnails, with_thumbnails: bool) -> tuple[list[dict], list[dict]]:
    """memory.json entities and the tracklet list, counted from the final rows (so they agree)."""
    where = {int(source): i for i, source in enumerate(rows.source.tolist()) if source >= 0}
    tracks: dict[int, dict] = {}
    entities: dict[int, dict] = {}
    for i in range(len(rows)):
        frame, entity_id, track_id = int(rows.frame[i]), int(rows.entity[i]), int(rows.track[i])
        filled = bool(rows.source[i] < 0)
        label = rows.labels[int(rows.label[i])]
        entity = entities.setdefault(entity_id, {"id": entity_id, "class": label, "first_frame": frame, "last_frame": frame,
                                                 "observations": 0, "interpolated": 0, "track_ids": []})
        track = tracks.setdefault(track_id, {"track_id": track_id, "entity_id": entity_id, "class": label, "first_frame": frame,
                                             "last_frame": frame, "observations": 0, "interpolated": 0})
        if track_id not in entity["track_ids"]:
            entity["track_ids"].append(track_id)
        for record in (entity, track):
            record["last_frame"] = frame
            record["interpolated" if filled else "observations"] += 1
    out = []
    for entity_id in sorted(entities):
        entity = entities[entity_id]
        entity["track_ids"].sort(key=lambda t: tracks[t]["first_frame"])
        entity["tracklets"] = [
            {k: tracks[t][k] for k in ("track_id", "first_frame", "last_frame", "observations", "interpolated")}
            for t in entity["track_ids"]
        ]
        views = [(thumbnails.best[t], t) for t in entity["track_ids"] if t in thumbnails.best]
        entity["prototype_row"] = None
        entity["thumbnail"] = None
        if views:
            (_, online_row), track_id = max(views)
            entity["prototype_row"] = where.get(online_row) if had_embedding[online_row] else None
            if with_thumbnails:
                entity["thumbnail"] = f"thumbnails/{entity_id}.jpg"
                entity["_thumbnail_track"] = track_id
        out.append(entity)
    return out, list(tracks.values())


def _moved_frames(frames, warps) -> dict[int, np.ndarray]:
    """{frame number: the camera warp the tracker applied there}, for the frames where it applied one."""
    if not warps:
        return {}
    from .tracking.cmc import moved

    mats = np.frombuffer(warps, np.float64).reshape(-1, 2, 3)
    numbers = np.frombuffer(frames, np.int64)
    return {int(numbers[i]): mats[i] for i in np.flatnonzero(moved(mats))}


def render_annotated(video, video_config, tracks_jsonl: Path, out_path: Path, source_fps: float, writer: EpisodeWriter,
                     camera_warps: dict[int, np.ndarray] | None = None) -> None:
    """annotated.mp4 from the final tracks.jsonl, re-decoding the video (same sampling, same frames).
    `camera_warps` ({frame number: warp}): trails follow the camera, as the tracker did.

    Decoding runs ahead in one thread and encoding behind in another, so the three overlap where
    cores are free; both queues are bounded. Frames stay in the decoder's I420 planes from decode
    to encode (drawn on directly): the RGB round trip cost 0.8 ms of ~4 ms per PETS09 frame.
    """
    import json

    from .annotate import Annotator
    from .video import VideoWriter, open_video

    fps = source_fps if source_fps > 0 else 25.0
    if video_config.fps:
        fps = min(fps, video_config.fps)
    annotator = Annotator()
    video_writer = VideoWriter(out_path, fps=fps, fit=True)  # frame size may change mid-stream

    def encode(image: np.ndarray) -> None:
        with writer.writing():
            video_writer.write_yuv420(image) if image.ndim == 2 else video_writer.write(image)

    done = False
    frames = encoder = None
    try:
        with open(tracks_jsonl, encoding="utf-8") as handle, open_video(video, video_config) as source:
            frames = Prefetch(lambda: source.frames("yuv420p"), DECODE_AHEAD, "orion-annotate-decode")
            encoder = Consumer(encode, WRITE_BEHIND, "orion-video-writer")
            pending = None
            for frame in frames:
                number = frame.index + 1
                objects = []
                while True:
                    if pending is None:
                        line = handle.readline()
                        pending = json.loads(line) if line else None
                    if pending is None or pending["frame"] > number:
                        break
                    if pending["frame"] == number:
                        objects.append(TrackedObject(pending["track_id"], pending["entity_id"], np.array(pending["bbox_xyxy"]),
                                                     pending["conf"], pending["class"], -1))
                    pending = None
                draw = annotator.draw_yuv420 if frame.image.ndim == 2 else annotator.draw
                encoder.submit(draw(frame.image, objects, frame.index, (camera_warps or {}).get(number)))
            encoder.close()
            frames.close()
        with writer.writing():
            video_writer.close()
        done = True
    finally:
        if not done:
            if encoder is not None:
                encoder.abort()
            if frames is not None:
                frames.close()
            video_writer.discard()


def _shrink(image: np.ndarray) -> np.ndarray:
    """Thumbnails at most THUMBNAIL_SIDE pixels on their long side."""
    import cv2

    height, width = image.shape[:2]
    scale = THUMBNAIL_SIDE / max(height, width)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=cv2.INTER_AREA)
