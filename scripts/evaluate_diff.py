#!/usr/bin/env python3
"""Measure what the log diff against the last green run adds to excerpts, on the CiDiff breakage set.

Usage: scripts/evaluate_diff.py CORPUS_DIR [--budget TOKENS] [--details]

CORPUS_DIR is `corpus/other-ci-corpora/cidiff-breakages` (or its `data/` folder): case folders holding
`pass.log`, `fail.log` and `groundtruth`, whose first line is the parser option (DEFAULT for Jenkins,
RAW_GITHUB / FULL_GITHUB for GitHub Actions) followed by `E a-b` / `E n` error line ranges in fail.log
(1-based; `C` context lines are optional and not counted).

For every case the excerpt of fail.log is built twice at the same budget: as is, and with the lines of
pass.log that `azura.history` would read from the last successful build (`green_window`: at most
GREEN_WINDOW_LINES lines, ending a little past fail.log's length) as the green run's known lines. The table gives the mean recall of labelled lines, how many cases keep all of
them, and in how many cases the diff raised or lowered recall.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azura.analyze.signatures import load_signatures  # noqa: E402 - after the path is set
from azura.excerpt import build_excerpts, covered_lines, read_lines  # noqa: E402
from azura.history import GREEN_WINDOW_LINES, Findings, green_window, known_lines  # noqa: E402
from azura.models import FailedStep, StepLog  # noqa: E402

SUBSETS = {"DEFAULT": "Jenkins", "RAW_GITHUB": "GitHub Actions", "FULL_GITHUB": "GitHub Actions",
           "GITHUB": "GitHub Actions"}


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # Jenkins or GitHub Actions
    fail_log: Path
    pass_log: Path
    labelled: FrozenSet[int]


@dataclass(frozen=True)
class Outcome:
    case: Case
    plain: float  # recall without the diff
    diffed: float  # recall with it


def find_cases(corpus: Path) -> List[Case]:
    """Return every case folder under `corpus` that has pass.log, fail.log and groundtruth."""
    cases = []
    for truth in sorted(corpus.rglob("groundtruth")):
        folder = truth.parent
        if not (folder / "fail.log").is_file() or not (folder / "pass.log").is_file():
            continue
        parser, labelled = parse_groundtruth(truth.read_text(encoding="utf-8", errors="replace"))
        if labelled:
            cases.append(Case(str(folder.relative_to(corpus)), SUBSETS.get(parser, parser), folder / "fail.log",
                              folder / "pass.log", frozenset(labelled)))
    return cases


def parse_groundtruth(text: str) -> Tuple[str, Set[int]]:
    """Return the parser option and the 1-based error line numbers of a CiDiff groundtruth file."""
    lines = text.splitlines()
    labelled: Set[int] = set()
    for line in lines[1:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] != "E":
            continue
        low, _, high = parts[1].partition("-")
        labelled.update(range(int(low), int(high or low) + 1))
    return (lines[0].strip() if lines else ""), labelled


def green_lines(case: Case) -> FrozenSet[str]:
    """Return the known lines of the passing log, read in the window history reads from a green build."""
    failed_length = sum(1 for _ in read_lines([case.fail_log.read_bytes()]))
    first, last = green_window(failed_length)
    return known_lines(line.text for line in read_lines([case.pass_log.read_bytes()]) if first <= line.number <= last)


def recall(case: Case, budget: int, patterns: Sequence[str], known: Optional[FrozenSet[str]]) -> float:
    """Return the share of the case's labelled lines that the excerpt of fail.log shows."""
    step = FailedStep(name=case.name, record_type="File")
    findings = Findings(known_lines={step: known}) if known is not None else None
    log = StepLog(step=step, chunks=[case.fail_log.read_bytes()])
    excerpt = build_excerpts([log], budget, anchor_patterns=patterns,
                             novel=findings.novel if findings else None)[0]
    return len(case.labelled & set(covered_lines(excerpt))) / len(case.labelled)


def table(outcomes: Sequence[Outcome], budget: int) -> str:
    """Return the results as a markdown table: all cases, then each kind of CI."""
    rows = [f"Recall of labelled error lines at {budget:,} tokens, without and with the diff against at most "
            f"{GREEN_WINDOW_LINES:,} lines of the passing log",
            "",
            "| cases | n | mean recall, no diff | mean recall, diff | all lines kept, no diff | all lines kept, "
            "diff | diff raised / lowered recall |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    groups: Dict[str, List[Outcome]] = {"all": list(outcomes)}
    for outcome in outcomes:
        groups.setdefault(outcome.case.kind, []).append(outcome)
    for name, group in groups.items():
        n = len(group)
        plain = sum(o.plain for o in group) / n
        diffed = sum(o.diffed for o in group) / n
        full_plain = sum(o.plain == 1 for o in group)
        full_diffed = sum(o.diffed == 1 for o in group)
        raised = sum(o.diffed > o.plain for o in group)
        lowered = sum(o.diffed < o.plain for o in group)
        rows.append(f"| {name} | {n} | {plain:.1%} | {diffed:.1%} | {full_plain} | {full_diffed} | "
                    f"{raised} / {lowered} |")
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path, help="the cidiff-breakages folder (or its data/ folder)")
    parser.add_argument("--budget", type=int, default=1024, help="excerpt token budget (default 1024)")
    parser.add_argument("--details", action="store_true", help="print one line per case too")
    parser.add_argument("--novel-bonus", type=float, help="what-if: score added to a new line "
                        "(default: the excerpt's NOVEL_BONUS)")
    args = parser.parse_args(argv)
    if args.novel_bonus is not None:
        from azura.excerpt import select

        select.NOVEL_BONUS = args.novel_bonus
    cases = find_cases(args.corpus)
    if not cases:
        print(f"no CiDiff cases (pass.log, fail.log, groundtruth) under {args.corpus}", file=sys.stderr)
        return 2
    patterns = [signature.pattern for signature in load_signatures()]
    outcomes = []
    for case in cases:
        outcome = Outcome(case, recall(case, args.budget, patterns, None),
                          recall(case, args.budget, patterns, green_lines(case)))
        outcomes.append(outcome)
        if args.details:
            print(f"{outcome.plain:6.1%} {outcome.diffed:6.1%}  {case.kind:14} {case.name}")
    print(table(outcomes, args.budget))
    return 0


if __name__ == "__main__":
    sys.exit(main())
