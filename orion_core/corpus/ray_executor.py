"""The Ray executor: the videos of a corpus on a Ray cluster (or a local Ray instance).

Imported only for `--executor ray`: `import orion_core` never imports Ray.

Each worker is a Ray actor holding one loaded engine (detector + embedder load once per actor),
asking for a GPU share when embedding on GPU. Videos go out one per idle actor, longest first.
Fault tolerance is Ray's own: an actor whose process dies is restarted (`max_restarts`), which
re-runs the constructor and so reloads the models, and the video it was on is retried on it
(`max_task_retries`). A retry is harmless because an episode only appears by an atomic rename of
a finished staging folder, so a video ends complete exactly once however often it was started.
Every node must see the same paths: the videos, and `--out` on a shared filesystem.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections import deque
from typing import Callable

import ray

from ..errors import OrionError
from .inputs import VideoJob
from .worker import VideoResult, failed, one_line, preload, process_job, worker_name

log = logging.getLogger(__name__)

# A video whose worker dies this many times is given up on (e.g. it runs every worker out of memory).
MAX_RETRIES = 3
NAME_PREFIX = "orion-corpus"
WAIT_S = 1.0


@ray.remote(max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES, concurrency_groups={"control": 1})
class CorpusActor:
    """One Ray worker: the engine it builds once, and the video it is on (for status())."""

    def __init__(self, config, out_dir: str) -> None:
        from ..engine import PerceptionEngine

        self.out_dir = out_dir
        self.current: str | None = None
        self.fatal: str | None = None
        try:
            self.engine = PerceptionEngine(config)
            preload(self.engine)
        except Exception as exc:  # a constructor that raises kills the actor for good; report it instead
            self.fatal = one_line(exc)

    def process(self, job: VideoJob) -> VideoResult | str:
        if self.fatal is not None:
            return self.fatal
        self.current = job.video
        try:
            return process_job(self.engine, job, self.out_dir)
        finally:
            self.current = None

    @ray.method(concurrency_group="control")
    def status(self) -> dict:
        """Answers while `process` runs (its own thread): which process, on which video."""
        return {"pid": os.getpid(), "worker": worker_name(), "video": self.current}


def _cluster(key: str) -> float:
    return float(ray.cluster_resources().get(key, 0.0))


def uses_gpu(config) -> bool:
    device = str(config.embedding.device)
    if device.startswith("cuda"):
        return True
    return device == "auto" and config.tracking.appearance and _cluster("GPU") > 0


def connect(address: str | None, cpus: int) -> bool:
    """Join `address`, or start a local instance; True when we started it (and must shut it down)."""
    if ray.is_initialized():  # a notebook or test that set Ray up itself
        return False
    # Ray's own start-up lines only with -v: stderr is for our progress and errors
    quiet = {"log_to_driver": False, "logging_level": logging.INFO if log.isEnabledFor(logging.INFO) else logging.ERROR}
    try:
        if address:
            ray.init(address=address, **quiet)
            return False
        ray.init(num_cpus=cpus, include_dashboard=False, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"at {address[:80]}" if address else "locally"
        raise OrionError(
            f"could not start or reach Ray {where} ({' '.join(str(exc).split())[:160]}); "
            "check --ray-address, or run 'ray start --head' first"
        ) from None
    return True


def plan_actors(config, workers: int | None) -> tuple[int, dict]:
    """How many actors and what each asks for: one CPU each (fewer if asked for more actors than CPUs),
    and an equal share of the GPUs when embedding on GPU (workers=None: one actor per GPU, else per CPU)."""
    cpus = max(_cluster("CPU"), 1.0)
    gpus = _cluster("GPU") if uses_gpu(config) else 0.0
    if workers is None:
        workers = int(gpus) if gpus >= 1 else int(cpus)
    workers = max(1, workers)
    options: dict = {"num_cpus": min(1.0, cpus / workers)}
    if gpus > 0:
        options["num_gpus"] = min(1.0, gpus / workers)
    return workers, options


def run_ray(
    config,
    jobs: list[VideoJob],
    out_dir: str,
    workers: int | None,
    address: str | None,
    on_event: Callable[[str, VideoJob, object], None],
) -> int:
    """Run `jobs` on Ray actors; returns how many actors there were (corpus.json's `workers`)."""
    from .local import machine_cores

    started = connect(address, cpus=machine_cores())
    actors = []
    try:
        count, options = plan_actors(config, workers)
        count = min(count, len(jobs))
        run_id = uuid.uuid4().hex[:8]
        out = os.path.abspath(out_dir)  # workers may run in another folder (and on other nodes)
        actors = [
            CorpusActor.options(name=f"{NAME_PREFIX}-{run_id}-{i}", **options).remote(config, out) for i in range(count)
        ]
        _dispatch(actors, deque(jobs), on_event)
        return count
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()


def _dispatch(actors: list, todo: deque, on_event) -> None:
    idle = list(actors)
    inflight: dict = {}  # ObjectRef -> (actor, job)
    while todo or inflight:
        while idle and todo:
            actor, job = idle.pop(0), todo.popleft()
            inflight[actor.process.remote(job)] = (actor, job)
            on_event("start", job, None)
        if not inflight:  # every actor is gone and videos remain
            for job in todo:
                on_event("done", job, failed(job, "no Ray worker left to process this video (all died)"))
            return
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=WAIT_S)
        for ref in ready:
            actor, job = inflight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayActorError as exc:  # the actor died more often than it may restart
                log.warning("Ray worker died on %s: %s", job.video, exc)
                on_event("done", job, failed(job, f"the Ray worker died {MAX_RETRIES + 1} times on this video; out of memory?"))
                continue
            if isinstance(result, str):  # the actor could not load its models: same for every video
                raise OrionError(result)
            idle.append(actor)
            on_event("done", job, result)
