"""Azura: why did the pipeline fail, and what to do now."""

__version__ = "0.2.0"
DISTRIBUTION = "azura-pipelines"  # the name on the package index; `azura` there is an unrelated project
