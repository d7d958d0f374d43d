"""The one thing pyproject.toml cannot say: the report templates at the repository root (templates/)
install as the package azura.templates, beside the packages found under azura/. All metadata is in
pyproject.toml."""
from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["azura", "azura.*"]) + ["azura.templates"],
    package_dir={"azura.templates": "templates"},
)
