"""Signal handlers installed for a while and put back afterwards.

Both uses (stopping a run like Ctrl-C, and remembering that it was asked, in case a library
swallows the KeyboardInterrupt; holding interrupts back during the episode swap) must leave the
host's handlers as they were: the CLI also runs in-process (tests, notebooks).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_interrupted = threading.Event()


@contextmanager
def handling(names: tuple[str, ...], handler: Callable) -> Iterator[bool]:
    """`handler` for each named signal this platform has; yields False (and changes nothing) off
    the main thread, where Python cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {}
    try:
        for name in names:
            if hasattr(signal, name):
                number = getattr(signal, name)
                previous[number] = signal.signal(number, handler)
        yield True
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def raise_interrupt(signum, frame) -> None:  # noqa: ARG001
    """A handler that stops a run like Ctrl-C (KeyboardInterrupt) and remembers that it did."""
    _interrupted.set()
    raise KeyboardInterrupt


def check_interrupted() -> None:
    """Raise KeyboardInterrupt again if a remembered interrupt has not ended the run.

    Python raises KeyboardInterrupt wherever the main thread happens to be. Inside a library's
    bare `except:` (an optional import during a lazy import, say) it is swallowed, and the run
    would go on to its end as if nothing had been asked. Loops call this once per step.
    """
    if _interrupted.is_set():
        raise KeyboardInterrupt


@contextmanager
def interrupts_remembered(names: tuple[str, ...]) -> Iterator[bool]:
    """`raise_interrupt` for the named signals while the block runs; forgotten before and after."""
    _interrupted.clear()
    try:
        with handling(names, raise_interrupt) as installed:
            yield installed
    finally:
        _interrupted.clear()
