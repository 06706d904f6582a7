"""Opening files the user names: only regular files, and never more than a known number of bytes.

A FIFO blocks `open()` until someone writes to it, `/dev/zero` never ends, and one 500 MB line
becomes a 500 MB error message: every reader of user files (configs, det.txt, gt.txt, weights,
videos) goes through these checks first, so each of those is one line instead of a hang.
"""

from __future__ import annotations

import codecs
import io
import os
import stat
from pathlib import Path
from typing import Callable

from .errors import InputError, OrionError, quote

# What `stat` says a path is, in words, for everything that is not a regular file.
_KINDS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def kind_of(mode: int) -> str | None:
    """None for a regular file, else what it is ("a named pipe (FIFO)", "a character device", ...)."""
    if stat.S_ISREG(mode):
        return None
    return next((words for test, words in _KINDS if test(mode)), "not a regular file")


def stat_path(path: str | os.PathLike, what: str, error: type[OrionError] = InputError) -> os.stat_result:
    """`os.stat`, with a missing path, a NUL in the name or a folder that cannot be entered as one line."""
    try:
        return Path(path).stat()
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist; check the path") from None
    except ValueError:  # "embedded null byte": the name cannot exist on any file system
        raise error(f"{what} path {quote(os.fspath(path))} contains a NUL character; check the path") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be accessed ({exc.strerror or exc}); check the path and its permissions") from None


def regular_file(path: str | os.PathLike, what: str, error: type[OrionError] = InputError, hint: str = "pass a file") -> os.stat_result:
    """Stat `path` and insist on a regular file: FIFOs, devices and folders are refused before any `open()`."""
    info = stat_path(path, what, error)
    kind = kind_of(info.st_mode)
    if kind is not None:
        raise error(f"{what} {path} is {kind}, not a regular file; {hint}")
    return info


def check_size(path: str | os.PathLike, size: int, limit: int, what: str, error: type[OrionError] = InputError) -> None:
    if size > limit:
        raise error(
            f"{what} {path} is {size / 2**20:,.1f} MiB, more than the {limit / 2**20:,.0f} MiB Orion reads "
            "for such a file; check that it is the right file"
        )


def read_text_lines(
    path: str | os.PathLike,
    what: str,
    max_bytes: int,
    max_line: int,
    error: type[OrionError] = InputError,
    hint: str = "pass a text file",
) -> list[str]:
    """The lines of a text file (UTF-8, a UTF-8 BOM or UTF-16 with its BOM), read within both bounds.

    Refuses non-regular files, files over `max_bytes`, lines over `max_line` characters and NUL
    bytes (binary data), each as one `error` naming the file (and line) without quoting it whole.
    """
    path = Path(path)
    info = regular_file(path, what, error, hint)
    check_size(path, info.st_size, max_bytes, what, error)
    try:
        with open(path, "rb") as raw:
            head = raw.read(2)
            encoding = "utf-16" if head in UTF16_BOMS else "utf-8-sig"
            raw.seek(0)
            text = io.TextIOWrapper(raw, encoding=encoding, newline=None)
            lines: list[str] = []
            read = 0
            while True:
                line = text.readline(max_line + 1)
                if not line:
                    return lines
                read += len(line)
                if len(line) > max_line and not line.endswith("\n"):
                    raise error(
                        f"{what} {path} line {len(lines) + 1} is longer than {max_line:,} characters "
                        f"(starts {quote(line)}); {hint}"
                    )
                if "\x00" in line:
                    raise error(f"{what} {path} line {len(lines) + 1} holds NUL bytes, so it is not a text file; {hint}")
                if read > max_bytes:  # the file grew while we read it
                    check_size(path, read, max_bytes, what, error)
                lines.append(line.rstrip("\r\n"))
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not a UTF-8 or UTF-16 text file; {hint}") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read ({exc.strerror or exc}); check its permissions") from None
