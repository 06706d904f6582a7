"""A corpus run: expand the inputs, skip what is done, hand the rest to an executor, write corpus.json.

The driver never decodes a video: skipping reads one small run.json per episode, and progress
(videos done / total, frames/s, ETA) comes from the workers' reports.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import time
from pathlib import Path
from typing import Callable

from ..errors import ConfigError, OrionError
from ..outputs import episode_dir, write_json_atomic
from .fingerprint import completed_run, config_hash, fingerprint
from .inputs import VideoJob, expand_paths, plan_jobs
from .worker import COMPLETE, FAILED, PENDING, SKIPPED, VideoResult, config_for

log = logging.getLogger(__name__)

EXECUTORS = ("local", "ray")
CORPUS_FILE = "corpus.json"
# `--workers auto` sizing. Measured: one CPU worker peaks at ~1.5 GiB RSS (mobilenetv2 on PETS09,
# benchmarks/memory_rss.py). Estimated: a ViT-S/B worker needs ~2 GiB of GPU memory (weights,
# activations of a 32-crop batch in bf16, its CUDA context).
WORKER_RSS_GIB = 1.5
WORKER_GPU_GIB = 2.0
GIB = 1 << 30
RAY_EXTRA = "pip install 'orion-core[ray]'"

Progress = Callable[[dict], None]


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def auto_workers(config, videos: int) -> int:
    """What this machine allows: a worker per core, fewer if RAM (or GPU memory, when embedding on GPU) is short."""
    from .local import machine_cores

    limit = machine_cores()
    memory = _available_memory()
    if memory is not None:
        limit = min(limit, max(1, int(memory // (WORKER_RSS_GIB * GIB))))
    if config.tracking.appearance and str(config.embedding.device) != "cpu":
        from ..device import resolve_device

        try:
            device = resolve_device(config.embedding.device)
        except OrionError:
            device = "cpu"
        if device.startswith("cuda"):
            import torch

            free, _ = torch.cuda.mem_get_info()
            limit = min(limit, max(1, int(free // (WORKER_GPU_GIB * GIB))))
    return max(1, min(limit, videos))


def parse_workers(value: int | str | None) -> int | str:
    """`--workers N|auto`: a positive integer or 'auto'."""
    if value is None:
        return 1
    if isinstance(value, str):
        if value.strip().lower() == "auto":
            return "auto"
        try:
            value = int(value)
        except ValueError:
            raise ConfigError(f"--workers must be a positive integer or 'auto', got {value[:20]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"--workers must be a positive integer or 'auto', got {value!r}")
    return value


class CorpusProgress:
    """Videos done / total, frames/s and an ETA, from the executor's start/frames/done events."""

    def __init__(self, total: int, todo: list[VideoJob], callback: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.counts = {COMPLETE: 0, SKIPPED: 0, FAILED: 0}
        self.callback = callback
        self.started = time.perf_counter()
        self.frames_done = 0  # frames of finished videos
        self.live: dict[int, tuple[int, int | None]] = {}  # job index -> (frames, header total) of running videos
        self.sizes = {job.index: max(job.size, 1) for job in todo}
        self.bytes_total = sum(self.sizes.values())
        self.bytes_done = 0

    def settled(self, result: VideoResult) -> None:
        """A video decided before any worker ran: skipped, or failed for want of detections."""
        self.done += 1
        self.counts[result.status] += 1

    def __call__(self, kind: str, job: VideoJob, payload) -> None:
        if kind == "start":
            self.live[job.index] = (0, None)
        elif kind == "frames":
            self.live[job.index] = (int(payload["frames"]), payload.get("total"))
        elif kind == "done":
            self.live.pop(job.index, None)
            self.done += 1
            self.counts[payload.status] = self.counts.get(payload.status, 0) + 1
            self.frames_done += int(payload.counts.get("frames", 0))
            self.bytes_done += self.sizes.get(job.index, 0)
        if self.callback is not None:
            self.callback(self.state(kind, job, payload if kind == "done" else None))

    def state(self, kind: str, job: VideoJob, result: VideoResult | None) -> dict:
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        frames = self.frames_done + sum(f for f, _ in self.live.values())
        done_bytes = self.bytes_done + sum(
            self.sizes.get(i, 0) * min(f / t, 1.0) for i, (f, t) in self.live.items() if t
        )
        eta = (self.bytes_total - done_bytes) * elapsed / done_bytes if done_bytes > 0 else None
        return {
            "event": kind,
            "video": job.video,
            "episode": job.episode,
            "result": result,
            "done": self.done,
            "total": self.total,
            "complete": self.counts[COMPLETE],
            "skipped": self.counts[SKIPPED],
            "failed": self.counts[FAILED],
            "frames": frames,
            "fps": frames / elapsed,
            "elapsed_s": elapsed,
            "eta_s": eta,
        }


def _skip_check(config, jobs: list[VideoJob], out: Path) -> dict[int, VideoResult]:
    """Episodes already complete for the same video and config."""
    skipped = {}
    for job in jobs:
        if job.detections_error is not None:
            continue
        target = episode_dir(out, job.episode)
        run = completed_run(target, fingerprint(job.video, config_for(config, job)))
        if run is not None:
            skipped[job.index] = VideoResult(
                video=job.video, episode=job.episode, status=SKIPPED, counts=dict(run.get("counts") or {}), path=str(target)
            )
    return skipped


def _corpus_record(config, results: list[VideoResult], executor: str, workers, started_at: str, seconds: float) -> dict:
    totals = {status: sum(1 for r in results if r.status == status) for status in (COMPLETE, SKIPPED, FAILED, PENDING)}
    return {
        # true when every video has an episode now (complete or skipped); false after failures or an interrupt
        "complete": totals[FAILED] == 0 and totals[PENDING] == 0,
        "started_at": started_at,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "executor": executor,
        "workers": workers,
        "config_sha256": config_hash(config),
        "totals": {"videos": len(results), **totals, "frames": sum(int(r.counts.get("frames", 0)) for r in results if r.status == COMPLETE)},
        "videos": [r.to_dict() for r in results],
    }


def run_corpus(
    engine,
    paths,
    *,
    workers: int | str | None = 1,
    executor: str = "local",
    ray_address: str | None = None,
    recursive: bool = False,
    force: bool = False,
    out_dir: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> list[VideoResult]:
    """See `PerceptionEngine.process_videos`."""
    config = engine.config
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {str(executor)[:20]!r}; choose one of {', '.join(EXECUTORS)}")
    if ray_address and executor != "ray":
        raise ConfigError("--ray-address is read only by --executor ray; add --executor ray or drop --ray-address")
    if executor == "ray":
        try:
            from . import ray_executor
        except ImportError as exc:
            if exc.name != "ray" and not str(exc.name or "").startswith("ray."):
                raise
            raise OrionError(f"--executor ray needs Ray, which is not installed: {RAY_EXTRA}") from None
    if workers is None and executor == "ray":
        workers = "auto"  # the cluster's size, not one actor
    workers = parse_workers(workers)
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if config.output.episode:
        if len(paths) == 1:
            raise ConfigError(
                f"{str(paths[0])[-60:]} is a directory or list of videos, each written to the episode named by its "
                "stem; --episode names the output of one video: drop it, or pass one video file"
            )
        raise ConfigError(
            "--episode names the output of one video; with several videos each episode is named by its video's "
            "stem: drop --episode"
        )
    detections = None
    if config.detection.detector == "mot":
        if not config.detection.detections:
            raise ConfigError(
                "detector 'mot' needs detections: pass --detections FOLDER holding <video stem>.txt "
                "or <video stem>/det/det.txt for each video"
            )
        detections = config.detection.detections
    jobs = plan_jobs(expand_paths([os.fspath(p) for p in paths], recursive), detections)
    out = Path(out_dir if out_dir is not None else config.output.out_dir)
    for job in jobs:
        episode_dir(out, job.episode)  # a file in the way of --out fails now, once
    out.mkdir(parents=True, exist_ok=True)

    started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    results: dict[int, VideoResult] = {} if force else _skip_check(config, jobs, out)
    for job in jobs:  # no detections for it: fails here, no worker needed
        if job.detections_error is not None:
            results[job.index] = VideoResult(video=job.video, episode=job.episode, status=FAILED, error=job.detections_error)
    todo = sorted((job for job in jobs if job.index not in results), key=lambda job: (-job.size, job.index))
    tracker = CorpusProgress(len(jobs), todo, progress)
    for result in results.values():
        tracker.settled(result)

    def on_event(kind: str, job: VideoJob, payload) -> None:
        if kind == "done":
            results[job.index] = payload
        tracker(kind, job, payload)

    if workers == "auto":
        workers = None if executor == "ray" else auto_workers(config, len(todo))
    used = workers
    try:
        if todo and executor == "ray":
            used = ray_executor.run_ray(config, todo, str(out), workers, ray_address, on_event)
        elif todo and min(workers, len(todo)) > 1:
            from .local import run_pool

            used = min(workers, len(todo))
            run_pool(config, todo, str(out), used, on_event)
        elif todo:
            from .local import run_in_process

            run_in_process(engine, todo, str(out), on_event)
    finally:  # also after Ctrl-C: corpus.json then lists what never ran as pending
        ordered = [
            results.get(job.index) or VideoResult(video=job.video, episode=job.episode, status=PENDING) for job in jobs
        ]
        record = _corpus_record(config, ordered, executor, used, started_at, time.perf_counter() - started)
        try:
            write_json_atomic(out / CORPUS_FILE, record)
        except OSError as exc:
            log.error("could not write %s: %s", out / CORPUS_FILE, exc.strerror or exc)
    return ordered
