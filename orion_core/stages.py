"""Overlapping pipeline stages: a producer thread ahead of the main loop, a consumer thread behind it.

Decoding (PyAV), torch forwards and x264 encoding release the GIL, so a thread per stage runs
them on other cores while the main thread tracks. Every queue is bounded: a stage that runs
ahead blocks instead of buffering the video, so memory stays flat whatever its length.

Interrupts: only the main thread receives Ctrl-C/SIGTERM. It never blocks on a queue for more
than `POLL_S`, and `close()` stops a worker within a poll (a worker in the middle of one item,
e.g. a model forward, is a daemon and is not waited for beyond `join_s`).

Such a worker must not outlive the interpreter: a daemon thread inside torch when Python
finalizes is torn down mid-call ("terminate called without an active exception", SIGABRT).
The CLI and corpus worker processes therefore end with `exit_now_if_busy` (the run's files are
committed or removed by then); for library use an exit hook stops and joins the workers.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
import weakref
from typing import Any, Callable, Iterator

POLL_S = 0.1  # longest a blocked put/get waits before re-checking for a stop or an interrupt
_END = object()


AT_EXIT_JOIN_S = 30.0  # longest the interpreter's exit waits for workers to finish the item in hand
_WORKERS: "weakref.WeakSet[Prefetch | Consumer]" = weakref.WeakSet()


def running() -> list[threading.Thread]:
    """Stage worker threads still alive (e.g. one in a model forward after an interrupt)."""
    return [w._thread for w in list(_WORKERS) if w._thread.is_alive()]


def exit_now_if_busy(code: int) -> None:
    """`os._exit(code)` if a worker is still busy, after flushing logs and stdio; else return.

    For a process that is ending anyway (the CLI, a corpus worker process) once the run has
    removed or committed its files: waiting for the worker's item could take a whole forward.
    """
    if not running():
        return
    import logging
    import sys

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


@atexit.register
def _stop_workers_at_exit() -> None:
    """Stop every worker and wait (bounded) for the item in hand: a thread still inside native
    code while the interpreter finalizes can abort the process."""
    workers = [w for w in list(_WORKERS) if w._thread.is_alive()]
    for worker in workers:
        worker._stop.set()
    deadline = time.monotonic() + AT_EXIT_JOIN_S
    for worker in workers:
        worker._thread.join(max(0.0, deadline - time.monotonic()))


class StageTimer:
    """Per-stage wall-clock seconds (for run.json); stages may run in different threads."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, stage: str, started: float) -> None:
        elapsed = time.perf_counter() - started
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed


def timed(items: Iterator[Any], timer: StageTimer, stage: str) -> Iterator[Any]:
    """`items`, with the time spent producing each one added to `stage`."""
    while True:
        started = time.perf_counter()
        item = next(items, _END)
        timer.add(stage, started)
        if item is _END:
            return
        yield item


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch:
    """Iterate `make_items()` in a daemon thread, at most `depth` items ahead of the consumer.

    The iterator is created, advanced and closed in the worker thread (a PyAV decoder stays in
    one thread). An exception in the worker is raised in the consumer at that point of the stream.
    Time the consumer waits goes to the `idle` stage of `timer`.
    """

    def __init__(self, make_items: Callable[[], Iterator[Any]], depth: int, name: str, timer: StageTimer | None = None) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._timer = timer
        self._done = False
        self._thread = threading.Thread(target=self._work, args=(make_items,), name=name, daemon=True)
        _WORKERS.add(self)
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, make_items: Callable[[], Iterator[Any]]) -> None:
        items = None
        try:
            items = make_items()
            for item in items:
                if not self._put(item):
                    break
            else:
                self._put(_END)
        except BaseException as exc:  # handed to the consumer, which decides
            self._put(_Failure(exc))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - a failed cleanup must not hide the real error
                    pass

    def __iter__(self) -> "Prefetch":
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        started = time.perf_counter()
        while True:
            try:
                item = self._queue.get(timeout=POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    item = _END  # the worker was stopped
                    break
        if self._timer is not None:
            self._timer.add("idle", started)
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            raise item.error
        return item

    def close(self, join_s: float = 1.0) -> None:
        """Stop the worker (it finishes the item in hand) and wait for it up to `join_s`."""
        self._stop.set()
        self._done = True
        while True:  # a worker blocked on a full queue sees the stop within one poll
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(join_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()


class Consumer:
    """Run `handle(item)` for submitted items in a daemon thread, at most `depth` behind.

    `submit` blocks when the worker is `depth` items behind (back-pressure, flat memory). The
    worker's first exception is raised by the next `submit` or by `close`; later items are dropped.
    """

    def __init__(self, handle: Callable[[Any], None], depth: int, name: str, timer: StageTimer | None = None, stage: str = "write") -> None:
        self._handle = handle
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._timer = timer
        self._stage = stage
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        _WORKERS.add(self)
        self._thread.start()

    def _work(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _END:
                return
            if self._error is not None or self._stop.is_set():
                continue
            started = time.perf_counter()
            try:
                self._handle(item)
            except BaseException as exc:  # raised in the main thread at its next call
                self._error = exc
            if self._timer is not None:
                self._timer.add(self._stage, started)

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._stop.set()
            raise error

    def submit(self, item: Any) -> None:
        self._raise()
        started = time.perf_counter()
        while True:
            try:
                self._queue.put(item, timeout=POLL_S)
                break
            except queue.Full:
                self._raise()
                if not self._thread.is_alive():
                    raise RuntimeError("background writer stopped unexpectedly") from None
        if self._timer is not None:
            self._timer.add("idle", started)

    def close(self) -> None:
        """Wait until every submitted item is handled; raises the worker's error, if any."""
        self._raise()
        while self._thread.is_alive():
            try:
                self._queue.put(_END, timeout=POLL_S)
                break
            except queue.Full:
                self._raise()
        while self._thread.is_alive():
            self._thread.join(POLL_S)
        self._raise()

    def abort(self, join_s: float = 1.0) -> None:
        """Drop what is queued and stop (an interrupted or failed run)."""
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._thread.join(join_s)


# -- CPU threads -------------------------------------------------------------------------------
def usable_cpus() -> int:
    """Cores this process may run on (affinity and cgroup-pinned containers), not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def default_threads(cpus: int | None = None) -> int:
    """torch intra-op threads when the user gives none: one core is left to the other stages.

    Measured on a shared 2-core VM (benchmarks/README.md, "Threads"): two torch threads stall
    whenever another process preempts one of them (identical passes differed 60x), and the decode
    and writer threads need a core too. Beyond 8 threads a CPU forward of these models gains little.
    """
    cpus = usable_cpus() if cpus is None else cpus
    return max(1, min(8, cpus - 1))


def set_torch_threads(threads: int | None) -> int | None:
    """Apply `threads` (None: `default_threads()`) to torch, if torch is importable; returns what was set."""
    count = default_threads() if threads is None else int(threads)
    try:
        import torch
    except ImportError:  # histogram needs no torch
        return None
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
