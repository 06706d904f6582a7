"""Signal handlers installed for a while and put back afterwards.

Both uses (stopping a run like Ctrl-C, holding interrupts back during the episode swap) must leave
the host's handlers as they were: the CLI also runs in-process (tests, notebooks).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


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
