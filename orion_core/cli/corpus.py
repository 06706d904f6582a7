"""`orion run` on several videos: progress on stderr, a summary on stdout, one `Error:` line per failure."""

from __future__ import annotations

import sys
import time

import click


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else "..." + text[-(limit - 3):]


class CorpusProgressLine:
    """Videos done / total, frames/s, ETA: one line redrawn on a terminal, a plain line per finished video otherwise."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.last = 0.0
        self.drawn = False

    def __call__(self, state: dict) -> None:
        summary = (
            f"videos {state['done']}/{state['total']}  {state['fps']:6.1f} frames/s  ETA {_clock(state['eta_s'])}"
        )
        if self.tty:
            now = time.perf_counter()
            if state["event"] != "done" and now - self.last < 0.2:
                return
            self.last = now
            click.echo(f"\r{summary}  ({state['failed']} failed)   ", err=True, nl=False)
            self.drawn = True
        elif state["event"] == "done":
            result = state["result"]
            what = f"{result.counts.get('frames', 0)} frames in {result.seconds:.1f} s" if result.status == "complete" else "see the error below"
            click.echo(f"[{state['done']}/{state['total']}] {state['episode']}: {result.status}, {what}; {summary}", err=True)

    def done(self) -> None:
        if self.drawn:
            click.echo("", err=True)


def run_corpus_command(engine, paths: list[str], recursive: bool, workers: str | None, executor: str, ray_address: str | None, force: bool) -> int:
    """Run the corpus; returns the number of failed videos (the caller exits 2 when it is not 0)."""
    from ..corpus import CORPUS_FILE

    progress = CorpusProgressLine(sys.stderr.isatty())
    started = time.perf_counter()
    try:
        results = engine.process_videos(
            paths,
            workers=workers,
            executor=executor,
            ray_address=ray_address,
            recursive=recursive,
            force=force,
            progress=progress,
        )
    finally:
        progress.done()
    seconds = time.perf_counter() - started
    by_status = {status: [r for r in results if r.status == status] for status in ("complete", "skipped", "failed")}
    frames = sum(int(r.counts.get("frames", 0)) for r in by_status["complete"])
    click.echo(
        f"corpus: {len(results)} videos: {len(by_status['complete'])} complete, {len(by_status['skipped'])} skipped "
        f"(already complete), {len(by_status['failed'])} failed; {frames} frames in {seconds:.1f} s "
        f"({frames / max(seconds, 1e-6):.1f} frames/s)"
    )
    click.echo(f"outputs: {engine.config.output.out_dir}/{CORPUS_FILE}")
    for result in by_status["failed"]:
        message = result.error or "failed"
        if message.startswith(result.video):  # "VIDEO is not a video ...": name it once
            message = message[len(result.video):].lstrip(" :")
        click.echo(f"Error: {_short(result.video)}: {message}", err=True)
    return len(by_status["failed"])
