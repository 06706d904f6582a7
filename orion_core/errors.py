"""Errors a user can fix.

Every exception here is caught by the CLI and printed as one line (no traceback, exit 2),
so its message must say what is wrong *and* what to do about it.
"""

from __future__ import annotations


class OrionError(Exception):
    """A problem the user can fix; the message is shown to them verbatim."""


class ConfigError(OrionError, ValueError):
    """Bad configuration (unknown key, wrong type, conflicting options)."""


class UnknownBackendError(ConfigError):
    """`config.backend` names no installed plugin."""


class PluginError(OrionError):
    """A backend plugin failed or returned something the contract forbids; names the plugin."""


class WeightsError(OrionError):
    """Model weights are missing, of the wrong family, truncated or corrupt."""


class InputError(OrionError):
    """An input file (video, detections) is missing or unreadable."""


QUOTE_LIMIT = 80  # characters of user input a message may quote: a 500 MB field must not become a 500 MB line


def quote(text: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr` of user input, cut to about `limit` characters (with how much was left out), for messages."""
    text = str(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def clip(text: object, limit: int = QUOTE_LIMIT) -> str:
    """User input shown as is (no quotes) when short, else cut like `quote`."""
    text = str(text)
    return text if len(text) <= limit and text.isprintable() else quote(text, limit)
