"""Measure how often the excerpt keeps the labelled cause of real failed build logs.

    python scripts/evaluate.py CORPUS_DIR [--budgets 512,1024,2048,4096] [--limit N] [--tokens]
                               [--tokenizer cl100k|estimate]

Corpora: LogChunks (labelled chunk, line numbers in the normalised log) and the GitHub Actions cases of
the CiDiff breakage set (`E a-b` error ranges of fail.log). Beside each budget runs a baseline: the last
lines of the log that fit the same budget. Prints a markdown table: the share of logs whose whole
labelled chunk is in the excerpt, and the mean share of labelled lines kept. Blank labelled lines are
ignored (neither the excerpt nor the baseline shows blank lines). Budgets are cl100k tokens (the tokenizer
extra), or the estimate's with `--tokenizer estimate`, Azura's default path. `--tokens` measures the token
estimate against cl100k instead: on each log's excerpt at the default budget, costed line by line as the
excerpt costs it and as one text as the LLM prompt counts it; the estimate's weights were fitted on the
even-numbered logs (LogChunks, then CiDiff), so the odd-numbered ones are shown apart.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, List, Sequence, Set, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azura.collect import local_logs  # noqa: E402
from azura.excerpt import build_excerpts, covered_lines, read_lines  # noqa: E402
from azura.excerpt.select import Entry, entry_cost  # noqa: E402
from azura.models import FailedStep, Line, StepLog  # noqa: E402


@dataclass(frozen=True)
class Case:
    corpus: str
    name: str
    path: Path
    labelled: Tuple[int, ...]  # 1-based line numbers of the labelled cause


def logchunks_cases(corpus: Path) -> Iterator[Case]:
    """Yield the LogChunks logs whose chunk was found in the normalised log."""
    root = corpus / "logchunks"
    with open(root / "labels.derived.jsonl", encoding="utf-8") as labels:
        for row in map(json.loads, labels):
            start = row.get("chunk_start_line_normalised")
            if start is None:
                continue
            lines = tuple(range(start, row["chunk_end_line_normalised"] + 1))
            yield Case("logchunks", row["log"], root / "logs" / (row["log"] + ".gz"), lines)


def cidiff_cases(corpus: Path) -> Iterator[Case]:
    """Yield the GitHub Actions cases of the CiDiff breakage set with their `E` line ranges."""
    root = corpus / "other-ci-corpora" / "cidiff-breakages" / "data"
    for truth in sorted(root.glob("**/groundtruth")):
        rows = truth.read_text(encoding="utf-8").split("\n")
        if "GITHUB" not in rows[0]:
            continue
        lines: List[int] = []
        for row in rows[1:]:
            if row.startswith("E "):
                first, _, last = row[2:].strip().partition("-")
                lines.extend(range(int(first), int(last or first) + 1))
        yield Case("cidiff-github", str(truth.parent.relative_to(root)), truth.parent / "fail.log", tuple(lines))


def chunks(path: Path) -> Iterable[bytes]:
    """Return the bytes of a (possibly gzipped) log in chunks, as collect streams them."""
    return local_logs((str(path),))[0].chunks


def tail_baseline(lines: Sequence[Line], budget: int, tokenizer: str) -> Set[int]:
    """Return the numbers of the last non-blank lines that fit `budget`, costed as the excerpt costs them."""
    kept: Set[int] = set()
    spent = 0
    for line in reversed(lines):
        if not line.text.strip():
            continue
        cost = entry_cost(Entry(line), tokenizer)
        if spent + cost > budget:
            break
        kept.add(line.number)
        spent += cost
    return kept


def evaluate(cases: Sequence[Case], budgets: Sequence[int], tokenizer: str) -> dict:
    """Return per (corpus, method, budget): the whole-chunk hits and the recall of each case."""
    results: dict = {}
    for case in cases:
        lines = list(read_lines(chunks(case.path)))
        blank = {line.number for line in lines if not line.text.strip()}
        wanted = [n for n in case.labelled if n not in blank]
        if not wanted:
            continue
        for budget in budgets:
            step = FailedStep(name=case.name, record_type="File")
            excerpt = build_excerpts([StepLog(step, chunks(case.path))], budget, tokenizer=tokenizer)[0]
            for method, kept in (("excerpt", set(covered_lines(excerpt))),
                                 ("tail", tail_baseline(lines, budget, tokenizer))):
                found = sum(1 for n in wanted if n in kept)
                results.setdefault((case.corpus, method, budget), []).append(
                    (found == len(wanted), found / len(wanted), case.name))
    return results


def markdown_table(results: dict, budgets: Sequence[int]) -> str:
    """Return the results as a markdown table, one row per corpus and method."""
    header = "| corpus | method | logs | " + " | ".join(f"whole @{b} | recall @{b}" for b in budgets) + " |"
    rule = "|" + "---|" * (3 + 2 * len(budgets))
    rows = [header, rule]
    for corpus in sorted({key[0] for key in results}):
        for method in ("excerpt", "tail"):
            cells = []
            count = 0
            for budget in budgets:
                rows_ = results.get((corpus, method, budget), [])
                count = len(rows_)
                whole = sum(r[0] for r in rows_) / max(1, count)
                recall = statistics.mean(r[1] for r in rows_) if rows_ else 0.0
                cells.append(f"{whole:.1%} | {recall:.1%}")
            rows.append(f"| {corpus} | {method} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def token_estimate_error(cases: Sequence[Case]) -> str:
    """Return how far the token estimate is from cl100k on excerpt-sized text: each log's excerpt at the default
    budget, costed line by line (as the excerpt's budget is spent) and as one text (as the LLM prompt is)."""
    from azura.tokens import CL100K, cl100k_available, count_tokens, estimate_tokens

    if not cl100k_available():
        return "cl100k_base is not loadable here (pip install 'azura-pipelines[tokenizer]'); nothing to measure"
    errors: dict = {}
    for index, case in enumerate(cases):
        excerpt = build_excerpts([StepLog(FailedStep(name=case.name, record_type="File"), chunks(case.path))],
                                 tokenizer=CL100K)[0]
        if not excerpt.lines:
            continue
        entries = [f"{line.number}: {line.text}\n" for line in excerpt.lines]
        text = "".join(entries)
        half = "odd" if index % 2 else "even"
        for way, estimated, exact in (
                ("line by line", sum(map(estimate_tokens, entries)), sum(count_tokens(e, CL100K) for e in entries)),
                ("as one text", estimate_tokens(text), count_tokens(text, CL100K))):
            for group in ("all", half):
                errors.setdefault((way, group), []).append((estimated - exact) / exact)

    def describe(values: List[float]) -> str:
        off = sorted(abs(value) for value in values)
        within = sum(1 for value in off if value <= 0.05) / len(off)
        return (f"mean error {statistics.mean(off):.1%}, all together {statistics.mean(values):+.1%}, "
                f"p95 {off[int(0.95 * (len(off) - 1))]:.1%}, within 5% {within:.0%}")

    return "\n".join(f"token estimate vs cl100k, excerpts {way}, {group} logs ({len(values)}): {describe(values)}"
                     for (way, group), values in sorted(errors.items()))


def main(argv: Sequence[str] = ()) -> int:
    """Run the evaluation and print the table; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path, help="the shared corpus directory")
    parser.add_argument("--budgets", default="512,1024,2048,4096")
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N logs of each corpus")
    parser.add_argument("--tokens", action="store_true", help="measure the token estimate's error instead")
    parser.add_argument("--misses", type=int, default=0, help="list logs missed at this budget")
    parser.add_argument("--tokenizer", choices=("cl100k", "estimate"), default="cl100k",
                        help="what counts the budgets (default cl100k, the tokenizer extra)")
    args = parser.parse_args(argv or None)
    budgets = [int(b) for b in args.budgets.split(",")]
    cases: List[Case] = []
    for source in (logchunks_cases, cidiff_cases):
        found = list(source(args.corpus))
        cases.extend(found[:args.limit] if args.limit else found)
    if args.tokens:
        print(token_estimate_error(cases))
        return 0
    started = time.monotonic()
    results = evaluate(cases, budgets, args.tokenizer)
    print(markdown_table(results, budgets))
    print(f"\n{len(cases)} logs in {time.monotonic() - started:.0f} s")
    if args.misses:
        for key, rows in sorted(results.items()):
            if key[1] == "excerpt" and key[2] == args.misses:
                for whole, recall, name in rows:
                    if not whole:
                        print(f"missed {key[0]} {recall:.0%} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
