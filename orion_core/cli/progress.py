"""Progress of a long job on stderr: a tqdm bar on a terminal, plain lines in a log, nothing with -q.

A run that writes to a file or a CI log (stderr not a TTY) used to print nothing for 19 minutes;
there a bar's carriage returns make a mess, so a plain line goes out every `LOG_INTERVAL_S`.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO

LOG_INTERVAL_S = 5.0


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60:02d}:{rest % 60:02d}"


class RunProgress:
    """Callable with the engine's progress dicts (`frames`, `total`, `tracks`, `entities`, ...)."""

    def __init__(
        self,
        stream: TextIO | None = None,
        quiet: bool = False,
        tty: bool | None = None,
        interval_s: float | None = None,
        unit: str = "frame",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval_s = LOG_INTERVAL_S if interval_s is None else interval_s
        self.unit = unit
        self.units = unit + ("es" if unit.endswith("s") else "s")
        self.clock = clock
        self.started = clock()
        self.last_line = self.started
        self.lines = 0
        self._bar = None
        self._first: tuple[float, int] | None = None

    def __call__(self, state: dict) -> None:
        if self.quiet:
            return
        if self.tty:
            self._draw_bar(state)
        else:
            self._log_line(state)

    def _postfix(self, state: dict) -> dict:
        postfix = {}
        if "tracks" in state:
            postfix["tracks"] = state["tracks"]
        if "entities" in state:
            postfix["entities"] = state["entities"]
        if state.get("detections"):
            postfix["embedded"] = f"{100.0 * state.get('embedded', 0) / state['detections']:.0f}%"
        return postfix

    def _draw_bar(self, state: dict) -> None:
        from tqdm import tqdm

        if self._bar is None:
            try:  # a terminal that reports a 0x0 size (some CI ptys): tqdm would hide the bar
                size = os.get_terminal_size(self.stream.fileno())
                sized = size.columns > 0 and size.lines > 0
            except (AttributeError, OSError, ValueError):
                sized = False
            fixed = {} if sized else {"ncols": 100, "nrows": 24}
            self._bar = tqdm(total=state.get("total"), unit=self.unit, file=self.stream, dynamic_ncols=sized,
                             mininterval=0.2, leave=True, **fixed)
        bar = self._bar
        if state.get("total") and bar.total != state["total"]:
            bar.total = state["total"]
        bar.set_postfix(self._postfix(state), refresh=False)
        bar.update(state["frames"] - bar.n)

    def _log_line(self, state: dict) -> None:
        now = self.clock()
        if self._first is None:  # rates count from the first report: model loading is not processing
            self._first = (now, state["frames"])
            self.last_line = now
        if now - self.last_line < self.interval_s:
            return
        self.last_line = now
        self.lines += 1
        done, total = state["frames"], state.get("total")
        first_time, first_done = self._first
        rate = (done - first_done) / max(now - first_time, 1e-9)
        parts = [f"{self.units} {done}" + (f"/{total} ({100.0 * done / total:.0f}%)" if total else "")]
        parts.append(f"{rate:.1f} {self.units}/s")
        if total and rate > 0:
            parts.append(f"ETA {_clock((total - done) / rate)}")
        parts.append(f"elapsed {_clock(now - self.started)}")
        parts += [f"{key} {value}" for key, value in self._postfix(state).items()]
        print("progress: " + ", ".join(parts), file=self.stream, flush=True)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
