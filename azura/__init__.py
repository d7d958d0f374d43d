"""Azura: why did the pipeline fail, and what to do now."""

__version__ = "0.1.0"
