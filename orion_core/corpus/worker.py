"""One video in a worker: the same `process_video` a single run calls, with failures kept to that video.

Every executor (in-process, process pool, Ray actor) calls `process_job` with an engine that it
built once, so the detector and embedder load once per worker, not once per video.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import OrionError
from .inputs import VideoJob

log = logging.getLogger(__name__)

COMPLETE, SKIPPED, FAILED, PENDING = "complete", "skipped", "failed", "pending"
MAX_ERROR_CHARS = 300


@dataclass
class VideoResult:
    """One video's outcome, as corpus.json lists it and `process_videos` returns it."""

    video: str
    episode: str
    status: str  # complete | skipped | failed | pending (an interrupted run never reached it)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    path: str | None = None  # the episode folder, when complete or skipped
    worker: str | None = None  # host:pid that processed it (a Ray retry shows up as a new pid)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def one_line(exc: BaseException) -> str:
    """An exception as the single line corpus.json and stderr show; our own errors verbatim."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, OrionError):
        text = f"unexpected {type(exc).__name__}: {text}" if text else f"unexpected {type(exc).__name__}"
        text += "; run this video alone with -vv for the traceback"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def preload(engine) -> None:
    """Load what every video reuses now, so a bad model fails once, before any video, not once per video."""
    engine.embedder()
    if engine.config.detection.detector == "yolo":
        engine.detector()


def engine_for(engine, job: VideoJob):
    """The engine for one video: the shared one, or a shallow copy that reads this video's detections.

    The copy shares the loaded embedder (and any other cached model) with the original.
    """
    if job.detections is None:
        return engine
    config = engine.config
    clone = copy.copy(engine)
    clone.config = dataclasses.replace(config, detection=dataclasses.replace(config.detection, detections=job.detections))
    return clone


def config_for(config, job: VideoJob):
    """The config `engine_for` runs that video with (the driver fingerprints it without an engine)."""
    if job.detections is None:
        return config
    return dataclasses.replace(config, detection=dataclasses.replace(config.detection, detections=job.detections))


def failed(job: VideoJob, message: str, seconds: float = 0.0) -> VideoResult:
    return VideoResult(video=job.video, episode=job.episode, status=FAILED, seconds=round(seconds, 3), error=message, worker=worker_name())


def process_job(engine, job: VideoJob, out_dir: str, progress: Callable[[dict], None] | None = None) -> VideoResult:
    """Run one video; any error but an interrupt becomes this video's failure and the corpus goes on."""
    if job.detections_error is not None:
        return failed(job, job.detections_error)
    started = time.perf_counter()
    try:
        result = engine_for(engine, job).process_video(job.video, episode=job.episode, out_dir=out_dir, progress=progress)
    except Exception as exc:  # KeyboardInterrupt / SystemExit stop the corpus instead
        log.debug("video %s failed", job.video, exc_info=True)
        return failed(job, one_line(exc), time.perf_counter() - started)
    return VideoResult(
        video=job.video,
        episode=job.episode,
        status=COMPLETE,
        seconds=round(time.perf_counter() - started, 3),
        counts=dict(result.counts),
        path=str(result.path),
        worker=worker_name(),
    )
