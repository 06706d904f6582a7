"""Which folders are ours, and the one run at a time that may write each of them.

An episode folder is replaced only when Orion made it (it carries `MARKER`, or is an older
episode whose run.json names orion-core): a user's folder or file that happens to sit at
`<out>/<episode>` is never touched, nor is any input of the run. A run holds an exclusive lock
on its episode from start to commit, so two runs cannot race each other's swap and, while the
lock is held, every hidden `.<episode>.partial-*` / `.old-*` / `.trash-*` folder belongs to a
run that is dead (kill -9, SIGHUP, a double Ctrl-C): the next run recovers the newest complete
result from them if the episode itself went missing, and removes the rest.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

from .errors import ConfigError, OrionError

log = logging.getLogger(__name__)

MARKER = ".orion-episode"
LEFTOVER_KINDS = ("partial", "old", "trash")


def write_marker(folder: Path, episode: str) -> None:
    """Sign a staging folder as ours before anything else goes in."""
    from . import __version__

    with open(folder / MARKER, "w", encoding="utf-8") as handle:
        json.dump({"orion_episode": episode, "orion_core": __version__}, handle)
        handle.write("\n")


def is_ours(path: Path) -> bool:
    """True for a folder Orion wrote: its marker, or an older episode's run.json naming orion-core."""
    if path.is_symlink() or not path.is_dir():
        return False
    if (path / MARKER).is_file():
        return True
    run = path / "run.json"
    try:
        if not run.is_file() or run.stat().st_size > 16 << 20:
            return False
        with open(run, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and isinstance(record.get("versions"), dict) and "orion-core" in record["versions"]


def is_complete(path: Path) -> bool:
    """An episode whose run.json says complete (written last, so the rest is there too)."""
    try:
        with open(path / "run.json", encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("complete") is True


def _within(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return True


def check_replaceable(target: Path, inputs: list[Path]) -> None:
    """Refuse an output place that is not ours, or that holds (or is) one of the run's inputs."""
    for item in inputs:
        if _within(item, target):
            raise ConfigError(
                f"the output {target} would replace the input {item}; "
                "choose another --out or --episode (Orion never moves or deletes its inputs)"
            )
    if not os.path.lexists(target):
        return
    if not is_ours(target):
        kind = "folder" if target.is_dir() and not target.is_symlink() else "file"
        raise ConfigError(
            f"{target} already exists and is a {kind} Orion did not write; "
            "choose another --out or --episode (Orion replaces only its own episodes)"
        )


class EpisodeLock:
    """An exclusive, crash-released lock (flock) on `<out>/.<episode>.lock` for one run.

    flock is dropped by the kernel when the process dies, so a killed run never blocks the next;
    the lock file is removed on release (and re-checked on acquire, in case a releasing run
    unlinked the file we just opened).
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.parent / f".{target.name}.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-run protection, still crash recovery
            return
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise OrionError(
                        f"another orion run is writing {self.target} right now; "
                        "wait for it to finish or choose another --episode"
                    ) from None
                raise
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                return
            os.close(fd)  # the file was unlinked by a run releasing it: lock the new one

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self._fd)
        self._fd = None


def leftovers(target: Path) -> list[Path]:
    """Hidden folders a dead run left for this episode (only ours: marked, or empty)."""
    found = []
    if not target.parent.is_dir():
        return found
    for kind in LEFTOVER_KINDS:
        for path in target.parent.glob(f".{target.name}.{kind}-*"):
            if path.is_symlink() or not path.is_dir():
                continue
            if (path / MARKER).is_file() or not any(path.iterdir()):
                found.append(path)
    return found


def recover(target: Path) -> str | None:
    """Call with the lock held: restore a missing episode from what a dead run left, then tidy.

    A run killed between its two final renames leaves the new complete result in `.partial-*`
    and the previous one in `.old-*`; the newest complete folder wins. Returns a sentence for
    the log when something was done.
    """
    found = leftovers(target)
    if not found:
        return None
    restored = None
    if not os.path.lexists(target):
        complete = [p for p in found if is_complete(p)]
        if complete:
            newest = max(complete, key=lambda p: (p / "run.json").stat().st_mtime)
            os.replace(newest, target)
            found.remove(newest)
            restored = newest.name
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    message = f"cleaned {len(found)} folder(s) left by an interrupted run of {target.name}"
    if restored:
        message = f"restored {target} from {restored}, left complete by an interrupted run; " + message
    log.warning(message)
    return message
