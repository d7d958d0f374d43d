"""Print the distribution of LLM prompt sizes over the LogChunks corpus logs; builds each prompt, sends nothing.

Usage: python scripts/prompt_tokens.py CORPUS_DIR [--budget TOKENS] [--limit N] [--tokenizer cl100k|estimate]

CORPUS_DIR is the shared corpus folder (or its logchunks/ folder). Each log goes through the real
excerpt and offline steps at the budget, then `azura.analyze.llm.prompt_messages` builds the request's
messages; their tokens are counted with `azura.tokens.count_tokens` (cl100k by default, the tokenizer extra).
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
from pathlib import Path
from typing import Iterator, List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azura.analyze.llm import prompt_limit, prompt_messages  # noqa: E402 - after the path fix above
from azura.context import DEFAULT_BUDGET, Settings  # noqa: E402
from azura.engine import analyze_logs  # noqa: E402
from azura.models import FailedStep, StepLog  # noqa: E402
from azura.tokens import count_tokens  # noqa: E402


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET)
    parser.add_argument("--limit", type=int, help="only the first N logs")
    parser.add_argument("--tokenizer", choices=("cl100k", "estimate"), default="cl100k")
    args = parser.parse_args(argv)
    paths = sorted(_log_folder(args.corpus).rglob("*.log.gz"))[: args.limit]
    if not paths:
        print(f"no LogChunks logs (*.log.gz) under {args.corpus}", file=sys.stderr)
        return 2
    settings = Settings(budget=args.budget, tokenizer=args.tokenizer)
    prompts, excerpts, over = [], [], 0
    for path in paths:
        offline = analyze_logs((_step_log(path),), settings)
        tokens = sum(count_tokens(m["content"], args.tokenizer) for m in prompt_messages(offline, settings))
        prompts.append(tokens)
        excerpts.append(offline.usage.excerpt_tokens)
        over += tokens > prompt_limit(offline, settings.budget)
    overhead = [p - e for p, e in zip(prompts, excerpts)]
    print(f"{len(prompts)} logs, budget {args.budget}, tokenizer {args.tokenizer}")
    print(_distribution("prompt tokens", prompts))
    print(_distribution("excerpt tokens", excerpts))
    print(_distribution("overhead (prompt - excerpt)", overhead))
    print(f"prompts over the limit (budget + overhead): {over}")
    return 0


def _log_folder(corpus: Path) -> Path:
    for candidate in (corpus / "logchunks" / "logs", corpus / "logs", corpus):
        if candidate.is_dir():
            return candidate
    raise SystemExit(f"{corpus} is not a folder")


def _step_log(path: Path) -> StepLog:
    return StepLog(step=FailedStep(name=path.name[: -len(".gz")], record_type="File"), chunks=_chunks(path))


def _chunks(path: Path) -> Iterator[bytes]:
    with gzip.open(path, "rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            if not chunk:
                return
            yield chunk


def _distribution(name: str, values: List[int]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f"{name:30} min {ordered[0]:>6}  median {statistics.median(ordered):>8.0f}  p90 {p90:>6}  "
            f"max {ordered[-1]:>6}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
