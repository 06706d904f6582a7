"""The `orion` command. Subcommands live in sibling modules and are imported only when used,
so `orion --help` stays fast and imports no torch.

User mistakes raise `OrionError`; `main` prints them as one line and exits 2 (no traceback).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Iterator


def _exit_interrupted(signum, frame) -> None:  # noqa: ARG001
    os.write(2, b"Interrupted.\n")
    os._exit(130)


@contextlib.contextmanager
def exit_on_interrupt() -> Iterator[None]:
    """Ctrl-C while importing (nothing written yet) ends the process at once: "Interrupted.", exit 130.

    A KeyboardInterrupt raised inside an import escapes as a traceback before `main` can catch it,
    or is swallowed by a library's bare `except:` around an optional import (the run then goes on).
    Only Python's own handler is replaced (a host application's stays), and it comes back afterwards.
    """
    try:
        active = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if active:
            signal.signal(signal.SIGINT, _exit_interrupted)
    except ValueError:  # not the main thread
        active = False
    try:
        yield
    finally:
        if active:
            signal.signal(signal.SIGINT, signal.default_int_handler)


with exit_on_interrupt():
    import importlib
    import logging
    import warnings

    import click

    from ..errors import OrionError

COMMANDS = {
    "run": ("orion_core.cli.run", "run", "Detect, embed, track and re-identify objects in a video."),
    "plugins": ("orion_core.cli.plugins", "plugins", "List installed embedding backends and their status."),
    "weights": ("orion_core.cli.weights", "weights", "Check downloaded model weights before a run."),
    "eval": ("orion_core.cli.eval", "eval_cmd", "Score tracks against ground truth (HOTA, IDF1, MOTA)."),
    "bench": ("orion_core.cli.bench", "bench", "Benchmarks: embedding throughput against the raw model."),
    "demo": ("orion_core.cli.demo", "demo", "Make a synthetic scene, track it offline and score it."),
}


class LazyGroup(click.Group):
    """Import a subcommand's module only when that subcommand runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[name]
        try:
            with exit_on_interrupt():
                module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="orion-core", prog_name="orion")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Orion: persistent object identities from video."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


MAX_MESSAGE = 2000  # a last guard: messages quote at most ~80 characters of input, but other tools' text is theirs


def one_line(text: str) -> str:
    """Messages quoting other tools (a plugin's exception, FFmpeg) may span lines; the CLI prints one."""
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_MESSAGE else line[:MAX_MESSAGE] + "..."


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line on stderr and exit code 2.

    `argv` None (the `orion` command) also ends the process at once if a pipeline worker is
    still busy (`_exit_past_busy_workers`); a host passing `argv` keeps its process.
    """
    # numpy's "invalid value encountered in divide" and the like are checked for (NaN rows, empty
    # ground truth) where they matter; on stderr they would only bury the one line that counts.
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=RuntimeWarning)
            _main(argv)
    except SystemExit as exc:
        if argv is None:  # the `orion` command itself, not a host calling main(args) in-process
            _exit_past_busy_workers(exc.code)
        raise
    if argv is None:
        _exit_past_busy_workers(0)


def _exit_past_busy_workers(code: int | str | None) -> None:
    """End the process now if a pipeline worker is still busy (a model forward when Ctrl-C or an
    error stopped the run): left to the interpreter's exit it would be waited for, or abort the
    process from inside torch (SIGABRT). The run has already removed or committed its files."""
    stages = sys.modules.get("orion_core.stages")  # not imported: no worker ever ran
    if stages is None or not stages.running():
        return
    if isinstance(code, str):  # sys.exit("message") prints it, exit status 1
        sys.stderr.write(code + "\n")
        code = 1
    stages.exit_now_if_busy(code if isinstance(code, int) else 0)


def _main(argv: list[str] | None) -> None:
    try:
        code = cli.main(args=argv, prog_name="orion", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except OrionError as exc:
        click.echo(f"Error: {one_line(exc)}", err=True)
        sys.exit(2)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.exceptions.NoArgsIsHelpError as exc:  # bare `orion` or `orion weights`: show the help
        click.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        sys.exit(0)
    except click.UsageError as exc:  # click's own form is three lines (usage, hint, error)
        hint = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
        click.echo(f"Error: {one_line(exc.format_message()).rstrip('.')}{hint}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"Error: {one_line(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
