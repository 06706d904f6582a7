"""The local executor: the videos of a corpus on this machine, in this process or in worker processes.

One worker runs in the calling process (no start-up cost, Ctrl-C behaves as for one video). Several
workers are `spawn`ed processes (a forked child would inherit torch's thread pools and CUDA state,
which is unsafe), each building one engine and pulling videos from a shared queue until it is
empty. The queue is filled longest first, so the longest video does not start last and hold up
the end. A worker that dies (killed, out of memory, a crash in native code) loses only the video
it had: that video is recorded as failed and a fresh worker takes its place.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import time
from typing import Callable

from ..errors import OrionError
from .inputs import VideoJob
from .worker import failed, preload, process_job, worker_name

log = logging.getLogger(__name__)

Event = Callable[[str, VideoJob, object], None]  # ("start" | "frames" | "done", job, payload)
PROGRESS_INTERVAL_S = 1.0
POLL_S = 0.5
STOP_GRACE_S = 10.0


def machine_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_in_process(engine, jobs: list[VideoJob], out_dir: str, on_event: Event) -> None:
    """Workers = 1: the caller's engine, one video after another."""
    preload(engine)
    for job in jobs:
        on_event("start", job, None)
        result = process_job(engine, job, out_dir, progress=lambda state, job=job: on_event("frames", job, state))
        on_event("done", job, result)


def _limit_threads(threads: int) -> None:
    """workers x threads <= cores: more threads than cores makes every worker slower, not faster."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(threads)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:  # pragma: no cover
        pass


def _worker_main(config, out_dir: str, threads: int, tasks, events) -> None:
    """A pool worker: build the engine once, then take videos until the queue says stop (None)."""
    from ..engine import PerceptionEngine

    # Ctrl-C in a terminal reaches every process of the group; the driver decides and sends SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def stop(signum, frame):  # noqa: ARG001 - SIGTERM unwinds like Ctrl-C: the staging folder is removed
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    wid = worker_name()
    try:
        _limit_threads(threads)
        engine = PerceptionEngine(config)
        preload(engine)
    except KeyboardInterrupt:
        return
    except OrionError as exc:
        events.put(("fatal", wid, None, " ".join(str(exc).split())))
        return
    except Exception as exc:  # a plugin failing to load is the same for every video: stop the corpus
        events.put(("fatal", wid, None, f"worker could not start: {type(exc).__name__}: {' '.join(str(exc).split())}"))
        return
    try:
        while True:
            job = tasks.get()
            if job is None:
                break
            events.put(("start", wid, job.index, None))
            last = [0.0]

            def progress(state: dict, job=job, last=last) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_INTERVAL_S:
                    last[0] = now
                    events.put(("frames", wid, job.index, {"frames": state["frames"], "total": state.get("total")}))

            events.put(("done", wid, job.index, process_job(engine, job, out_dir, progress)))
    except KeyboardInterrupt:
        return


def _death_message(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        cause = "; out of memory? lower --workers" if -exitcode == signal.SIGKILL else ""
        return f"the worker process died ({name}) while processing this video{cause}"
    return f"the worker process exited (code {exitcode}) while processing this video"


class ProcessPool:
    """`workers` spawned processes fed from one queue; see the module docstring."""

    def __init__(self, config, out_dir: str, workers: int, threads: int) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.config = config
        self.out_dir = out_dir
        self.workers = workers
        self.threads = threads
        self.tasks = self.ctx.Queue()
        self.events = self.ctx.Queue()
        self.procs: dict[int, object] = {}  # pid -> Process
        self.current: dict[str, int] = {}  # worker name -> job index it is on

    def _spawn(self) -> None:
        proc = self.ctx.Process(
            target=_worker_main, args=(self.config, self.out_dir, self.threads, self.tasks, self.events), daemon=True
        )
        proc.start()
        self.procs[proc.pid] = proc

    def run(self, jobs: list[VideoJob], on_event: Event) -> None:
        self.by_index = {job.index: job for job in jobs}
        self.pending = set(self.by_index)
        self.on_event = on_event
        for job in jobs:  # already longest first
            self.tasks.put(job)
        for _ in range(self.workers):
            self.tasks.put(None)
        respawns_left = len(jobs) + self.workers  # a worker that dies at start-up must not loop forever
        try:
            for _ in range(self.workers):
                self._spawn()
            while self.pending:
                try:
                    self._handle(*self.events.get(timeout=POLL_S))
                except queue.Empty:
                    respawns_left = self._reap(respawns_left)
        finally:
            self._stop(clean=not self.pending)

    def _handle(self, kind: str, wid: str, index: int | None, payload) -> None:
        if kind == "fatal":
            raise OrionError(payload)
        job = self.by_index[index]
        if kind == "start":
            self.current[wid] = index
            self.on_event("start", job, None)
        elif kind == "frames":
            self.on_event("frames", job, payload)
        elif kind == "done":
            self.current.pop(wid, None)
            self.pending.discard(index)
            self.on_event("done", job, payload)

    def _drain(self) -> None:
        """Messages a worker sent just before it died are still worth reading."""
        try:
            while True:
                self._handle(*self.events.get(timeout=0.2))
        except queue.Empty:
            pass

    def _reap(self, respawns_left: int) -> int:
        """Dead workers: fail the video each had, start a replacement while videos remain."""
        for pid, proc in list(self.procs.items()):
            if proc.is_alive():
                continue
            del self.procs[pid]
            self._drain()
            wid = next((w for w in self.current if w.endswith(f":{pid}")), None)
            index = self.current.pop(wid, None) if wid is not None else None
            if index is not None and index in self.pending:
                job = self.by_index[index]
                self.pending.discard(index)
                log.warning("worker %s died on %s (exit code %s)", pid, job.video, proc.exitcode)
                result = failed(job, _death_message(proc.exitcode))
                result.worker = wid
                self.on_event("done", job, result)
            if self.pending and proc.exitcode != 0 and respawns_left > 0:
                respawns_left -= 1
                self._spawn()
        if self.pending and not self.procs:
            raise OrionError("every worker process stopped before the corpus was done; rerun with -v to see why")
        return respawns_left

    def _stop(self, clean: bool) -> None:
        if not clean:  # interrupted or failed: staging folders go with their workers (SIGTERM -> KeyboardInterrupt)
            for proc in self.procs.values():
                if proc.is_alive():
                    proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.procs.values():
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        for q in (self.tasks, self.events):
            q.cancel_join_thread()  # items left in a queue must not block our exit
            q.close()


def run_pool(config, jobs: list[VideoJob], out_dir: str, workers: int, on_event: Event) -> None:
    threads = max(1, machine_cores() // workers)
    ProcessPool(config, out_dir, workers, threads).run(jobs, on_event)


__all__ = ["machine_cores", "run_in_process", "run_pool"]
