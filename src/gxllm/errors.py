"""Exceptions the library raises; `cli.py` turns each into one line on stderr."""


class GxllmError(Exception):
    """Base class. The message is one line and, where there is one, says the fix."""


class InputError(GxllmError):
    """An input that cannot be read as a report (missing, empty, binary, unsupported, too big)."""

    kind = "unreadable_input"  # the finding kind of the `failed` record a batch keeps for it


class TemplateError(GxllmError):
    """A table or shape the template does not declare."""


class NoTextLayerError(InputError):
    """A scanned PDF: pages of images, no text to read until it is OCRed."""

    kind = "no_text_layer"


class BudgetError(GxllmError, ValueError):
    """A budget that cannot be kept: a negative cap, or a cost cap on a model without a price."""


class LocalModelError(GxllmError):
    """The local model cannot be installed or served (missing extra, not installed, bad download, server down)."""
