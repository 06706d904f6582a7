"""MOTChallenge text files (det.txt, gt.txt, tracks.txt): opening them with one-line errors.

Both the `mot` detector and `orion eval` read these files; the user sees the same message for the
same mistake whichever command they ran.
"""

from __future__ import annotations

from pathlib import Path

from .errors import InputError


def read_text(path: str | Path, what: str) -> str:
    """The file's text; a missing, folder, binary or unreadable path is an InputError naming `what` (e.g. "detections file")."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist; check the path") from None
    except IsADirectoryError:
        raise InputError(f"{what} {path} is a directory; pass the .txt file inside it") from None
    except UnicodeDecodeError:
        raise InputError(f"{what} {path} is not a text file; expected MOTChallenge CSV rows") from None
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be read ({exc.strerror or exc}); check its permissions") from None
