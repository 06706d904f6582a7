"""Many videos: `orion run PATH [PATH ...]` and `PerceptionEngine.process_videos`.

Inputs are expanded and checked up front (`inputs`), finished episodes are skipped by their
run.json fingerprint (`fingerprint`), the rest run on an executor: this machine's cores
(`local`, the default) or a Ray cluster (`ray_executor`, the optional `ray` extra, imported only
when asked for). `<out>/corpus.json` lists every video's outcome.
"""

from __future__ import annotations

from .inputs import VIDEO_SUFFIXES, VideoJob, expand_paths, is_corpus, plan_jobs
from .runner import CORPUS_FILE, EXECUTORS, run_corpus
from .worker import COMPLETE, FAILED, PENDING, SKIPPED, VideoResult

__all__ = [
    "COMPLETE",
    "CORPUS_FILE",
    "EXECUTORS",
    "FAILED",
    "PENDING",
    "SKIPPED",
    "VIDEO_SUFFIXES",
    "VideoJob",
    "VideoResult",
    "expand_paths",
    "is_corpus",
    "plan_jobs",
    "run_corpus",
]
