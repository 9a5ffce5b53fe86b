"""opsdeck: a terminal operations console for workflow engines."""

__version__ = "0.1.0"
