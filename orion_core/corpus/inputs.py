"""Turn `orion run PATH [PATH ...]` into a list of videos, each with its episode name.

Every check that can fail for the corpus as a whole (a missing PATH, a folder without videos, two
videos that would write the same episode) fails here, before any model loads or any video runs.
What can fail for one video only (unreadable file, no detections for it) is left to that video.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, InputError
from ..outputs import EPISODE_NAME

# What a folder scan picks up; a video with another suffix can still be named directly or in a list.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".3gp", ".ogv"}
)
LIST_SUFFIX = ".txt"


def _short(text: object, limit: int = 80) -> str:
    """User input quoted in a message, never more than ~80 characters (the tail is the informative end of a path)."""
    text = str(text)
    return text if len(text) <= limit else "..." + text[-(limit - 3):]


@dataclass(frozen=True)
class VideoJob:
    """One video of a corpus: where it is, which episode it becomes, which detections it reads."""

    index: int  # position in input order (corpus.json keeps this order)
    video: str  # absolute path
    episode: str
    size: int  # bytes; the scheduler hands out large files first
    detections: str | None = None  # per-video det file for --detector mot, when one exists
    detections_error: str | None = None  # why there is none: a per-video failure, not a corpus one


# os.path's checks, not Path's: they answer False under a folder the user may not enter (Path's raise),
# and the one-video path then reports it with its usual one-line error.
def is_list_file(path: Path) -> bool:
    return path.suffix.lower() == LIST_SUFFIX and os.path.isfile(path)


def is_corpus(paths: list[str]) -> bool:
    """One PATH that is neither a folder nor a list runs exactly as before: no corpus.json, no skipping."""
    if len(paths) != 1:
        return True
    path = Path(paths[0])
    return os.path.isdir(path) or is_list_file(path)


def _folder_videos(folder: Path, recursive: bool) -> list[Path]:
    pattern = "**/*" if recursive else "*"
    found = [
        p
        for p in folder.glob(pattern)
        if p.suffix.lower() in VIDEO_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)  # staging folders, .DS_Store
    ]
    return sorted(found)


def _list_videos(list_file: Path) -> list[Path]:
    try:
        text = list_file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError(f"video list {_short(list_file)} is not a text file; expected one video path per line") from None
    except OSError as exc:
        raise InputError(f"video list {_short(list_file)} cannot be read ({exc.strerror or exc}); check its permissions") from None
    videos = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        path = Path(os.path.expanduser(line))
        # relative entries are relative to the list, so a list travels with its folder
        videos.append(path if path.is_absolute() else list_file.parent / path)
    return videos


def expand_paths(paths: list[str], recursive: bool = False) -> list[Path]:
    """Every video the PATHs name, in the order given (folders sorted), each file once."""
    videos: list[Path] = []
    for raw in paths:
        path = Path(os.path.expanduser(raw))
        if os.path.isdir(path):
            found = _folder_videos(path, recursive)
            if not found:
                where = "or its subfolders " if recursive else ""
                hint = "" if recursive else "; add --recursive to look in subfolders"
                raise InputError(
                    f"folder {_short(path)} {where}holds no videos ({', '.join(sorted(VIDEO_SUFFIXES)[:6])}, ...){hint}"
                )
            videos.extend(found)
        elif is_list_file(path):
            found = _list_videos(path)
            if not found:
                raise InputError(f"video list {_short(path)} names no videos; put one path per line ('#' starts a comment)")
            videos.extend(found)
        elif os.path.lexists(path):
            videos.append(path)
        else:
            raise InputError(f"{_short(raw)} does not exist; pass video files, folders of videos or a .txt list of videos")
    unique: list[Path] = []
    seen: set[str] = set()
    for video in videos:
        key = os.path.realpath(video)
        if key not in seen:  # the same file through a folder and a list is one video, not a clash
            seen.add(key)
            unique.append(video)
    return unique


def _check_stems(videos: list[Path]) -> None:
    by_stem: dict[str, Path] = {}
    for video in videos:
        stem = video.stem
        if stem in by_stem:
            raise ConfigError(
                f"two videos would write the same episode {_short(stem, 40)!r}: {_short(by_stem[stem], 60)} and "
                f"{_short(video, 60)}; rename one or run them with different --out folders"
            )
        by_stem[stem] = video
        if not EPISODE_NAME.match(stem) or ".." in stem:
            raise ConfigError(
                f"video {_short(video)} cannot name an episode ({_short(stem, 40)!r}): use letters, digits, '.', '_' "
                "and '-' only; rename the file"
            )


def find_detections(folder: Path, stem: str) -> Path | None:
    """`<folder>/<stem>.txt`, else MOTChallenge's `<folder>/<stem>/det/det.txt`."""
    for candidate in (folder / f"{stem}.txt", folder / stem / "det" / "det.txt"):
        if candidate.is_file():
            return candidate
    return None


def plan_jobs(videos: list[Path], detections: str | None = None) -> list[VideoJob]:
    """Episode names and per-video detections; a duplicate stem is an error before anything runs."""
    _check_stems(videos)
    folder = None
    if detections is not None:
        folder = Path(detections)
        if not folder.is_dir():
            raise ConfigError(
                f"--detections {_short(detections)} is one file, but there are {len(videos)} videos; pass a folder "
                "holding <video stem>.txt or <video stem>/det/det.txt for each video"
            )
    jobs = []
    for index, video in enumerate(videos):
        try:
            size = video.stat().st_size
        except OSError:
            size = 0  # missing or unreadable: the worker reports why, with the others going on
        det, det_error = None, None
        if folder is not None:
            found = find_detections(folder, video.stem)
            if found is None:
                det_error = (
                    f"no detections for this video in {_short(folder, 60)}: expected {video.stem}.txt or "
                    f"{video.stem}/det/det.txt there"
                )
            else:
                det = str(found)
        # absolute: a worker (a Ray actor above all) may run in another folder than the command
        jobs.append(
            VideoJob(
                index=index,
                video=os.path.abspath(video),
                episode=video.stem,
                size=size,
                detections=os.path.abspath(det) if det is not None else None,
                detections_error=det_error,
            )
        )
    return jobs
