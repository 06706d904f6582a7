"""MOTChallenge text files (det.txt, gt.txt, tracks.txt): opening them with one-line errors.

Both the `mot` detector and `orion eval` read these files; the user sees the same message for the
same mistake whichever command they ran.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError, quote
from .files import read_text_lines

# Reads are bounded so that `/dev/zero`, a FIFO or one 500 MB field fail fast instead of filling memory.
# The largest public files are far below: MOT20's biggest det.txt is about 30 MB, a row under 100 characters.
MAX_FILE_BYTES = 256 * 2**20
MAX_LINE_CHARS = 4096
# Frame numbers above this are refused (1e19 would overflow int64 silently; it is also ~1 year at 30 fps).
MAX_FRAME = 1_000_000_000


def read_lines(path: str | Path, what: str) -> list[str]:
    """The file's lines; a missing, folder, FIFO, binary, oversized or unreadable path is an InputError naming `what`."""
    return read_text_lines(
        path,
        what,
        max_bytes=MAX_FILE_BYTES,
        max_line=MAX_LINE_CHARS,
        hint="expected MOTChallenge CSV rows (frame,id,left,top,w,h,score,...)",
    )


def check_frame(value: float, text: str, where: str) -> int:
    """A MOT frame number: a whole number in 1..MAX_FRAME (1-based), else an InputError at `where`."""
    if value != int(value) or value < 1:
        raise InputError(f"{where}: frame number {quote(text)} must be a whole number >= 1 (MOTChallenge frames are 1-based)")
    if value > MAX_FRAME:
        raise InputError(f"{where}: frame number {quote(text)} is larger than {MAX_FRAME:,}, the largest Orion reads; fix or remove the line")
    return int(value)
