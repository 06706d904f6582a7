"""The local executor: the videos of a corpus on this machine, in this process or in worker processes.

One worker runs in the calling process (no start-up cost, Ctrl-C behaves as for one video). Several
workers are `spawn`ed processes (a forked child would inherit torch's thread pools and CUDA state,
which is unsafe), each building one engine and then asking the driver for one video at a time.
Videos are handed out longest first, so the longest video does not start last and hold up the end.
The driver records which worker holds which video when it hands it out (not when the worker says
it started: a worker killed in between would otherwise take its video with it unseen). A worker
that dies (killed, out of memory, a crash in native code) loses only the video it had: that video
is recorded as failed and a fresh worker takes its place.
"""

from __future__ import annotations

import logging
import os
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


def _worker_main(config, out_dir: str, threads: int, conn) -> None:
    """A pool worker: build the engine once, then ask for videos until the driver says stop (None).

    `conn` is this worker's own pipe to the driver. Not a queue shared by all workers: a worker
    killed while it holds a shared queue's write lock would silence every other worker for good.
    """
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
        conn.send(("fatal", wid, None, " ".join(str(exc).split())))
        return
    except Exception as exc:  # a plugin failing to load is the same for every video: stop the corpus
        conn.send(("fatal", wid, None, f"worker could not start: {type(exc).__name__}: {' '.join(str(exc).split())}"))
        return
    try:
        while True:
            conn.send(("ready", wid, None, None))
            job = conn.recv()
            if job is None:
                break
            conn.send(("start", wid, job.index, None))
            last = [0.0]

            def progress(state: dict, job=job, last=last) -> None:
                now = time.monotonic()
                if now - last[0] >= PROGRESS_INTERVAL_S:
                    last[0] = now
                    conn.send(("frames", wid, job.index, {"frames": state["frames"], "total": state.get("total")}))

            conn.send(("done", wid, job.index, process_job(engine, job, out_dir, progress)))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):  # stopped, or the driver is gone
        from ..stages import exit_now_if_busy

        exit_now_if_busy(0)  # a forward still running in a stage thread is not waited for
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
    """`workers` spawned processes, one pipe each, handed one video at a time; see the module docstring."""

    def __init__(self, config, out_dir: str, workers: int, threads: int) -> None:
        import multiprocessing

        self.ctx = multiprocessing.get_context("spawn")
        self.config = config
        self.out_dir = out_dir
        self.workers = workers
        self.threads = threads
        self.procs: dict[int, object] = {}  # pid -> Process
        self.conns: dict[int, object] = {}  # pid -> the driver's end of that worker's pipe
        self.current: dict[str, int] = {}  # worker name -> job index handed to it
        self.todo: list[VideoJob] = []

    def _spawn(self) -> None:
        mine, theirs = self.ctx.Pipe(duplex=True)
        proc = self.ctx.Process(target=_worker_main, args=(self.config, self.out_dir, self.threads, theirs), daemon=True)
        proc.start()
        theirs.close()  # the worker holds it now; EOF on ours then means the worker is gone
        self.procs[proc.pid] = proc
        self.conns[proc.pid] = mine

    def run(self, jobs: list[VideoJob], on_event: Event) -> None:
        from multiprocessing.connection import wait

        self.by_index = {job.index: job for job in jobs}
        self.pending = set(self.by_index)
        self.on_event = on_event
        self.todo = list(reversed(jobs))  # jobs come longest first; pop() from the end
        respawns_left = len(jobs) + self.workers  # a worker that dies at start-up must not loop forever
        try:
            for _ in range(self.workers):
                self._spawn()
            while self.pending:
                for conn in wait(list(self.conns.values()), timeout=POLL_S):
                    self._receive(conn)
                respawns_left = self._reap(respawns_left)
        finally:
            self._stop(clean=not self.pending)

    def _receive(self, conn) -> None:
        """Every message waiting on one worker's pipe (none after it died and was drained)."""
        try:
            while conn.poll():
                self._handle(*conn.recv())
        except (EOFError, OSError):
            pass  # the worker is gone; _reap decides what that means

    def _handle(self, kind: str, wid: str, index: int | None, payload) -> None:
        if kind == "fatal":
            raise OrionError(payload)
        if kind == "ready":
            conn = self.conns.get(int(wid.rsplit(":", 1)[1]))
            if conn is None:  # already reaped
                return
            job = self.todo.pop() if self.todo else None
            try:
                conn.send(job)
            except OSError:  # died after asking: the video goes back for the next worker
                if job is not None:
                    self.todo.append(job)
                return
            if job is not None:
                self.current[wid] = job.index  # held from now on, even before the worker says "start"
            return
        job = self.by_index[index]
        if kind == "start":
            self.on_event("start", job, None)
        elif kind == "frames":
            self.on_event("frames", job, payload)
        elif kind == "done":
            self.current.pop(wid, None)
            self.pending.discard(index)
            self.on_event("done", job, payload)

    def _reap(self, respawns_left: int) -> int:
        """Dead workers: fail the video each had, start a replacement while videos remain."""
        for pid, proc in list(self.procs.items()):
            if proc.is_alive():
                continue
            del self.procs[pid]
            conn = self.conns.pop(pid)
            self._receive(conn)  # what it said just before it died still counts
            conn.close()
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
        for pid, proc in self.procs.items():
            if not proc.is_alive():
                continue
            if clean:  # idle workers wait for their next video: tell them there is none
                try:
                    self.conns[pid].send(None)
                except OSError:
                    pass
            else:  # interrupted or failed: staging folders go with their workers (SIGTERM -> KeyboardInterrupt)
                proc.terminate()
        deadline = time.monotonic() + STOP_GRACE_S
        for proc in self.procs.values():
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
        for conn in self.conns.values():
            conn.close()


def run_pool(config, jobs: list[VideoJob], out_dir: str, workers: int, on_event: Event) -> None:
    threads = max(1, machine_cores() // workers)
    ProcessPool(config, out_dir, workers, threads).run(jobs, on_event)


__all__ = ["machine_cores", "run_in_process", "run_pool"]
