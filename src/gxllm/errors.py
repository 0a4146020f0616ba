"""Exceptions the library raises; `cli.py` turns each into one line on stderr."""


class GxllmError(Exception):
    """Base class. The message is one line and, where there is one, says the fix."""


class InputError(GxllmError):
    """An input that cannot be read as a report (missing, empty, binary, unsupported, too big)."""
