"""Measure how often the offline diagnosis points at the labelled cause of real failed build logs.

    python scripts/evaluate_diagnosis.py CORPUS_DIR [--budget 2048] [--limit N] [--misses a|b|all]
                                         [--save FILE] [--tokenizer estimate|cl100k]

`--misses` lists the logs whose cause line is not labelled, grouped first by mechanism: where the cause line
and the label sit against the failing section (the failed command's output, or before/after it), and which
signature won.

Each log goes through the same path as `azura analyze --log FILE` with no LLM (excerpt with the knowledge
base's patterns, then the offline analyzer). Corpora as in `evaluate.py`: LogChunks (labelled chunk) and the
GitHub Actions cases of the CiDiff breakage set (`E` error lines). LogChunks is also reported in two halves
split by repository (a stable hash of its name): half "a" is the one to read misses from while developing,
half "b" is held out, so a rule tuned to the logs it was read from shows as a gap between the halves.

Figures: "cause" is the share of logs whose first evidence line (the line the diagnosis rests on) is a
labelled line; "any" the share with some evidence line labelled; "unknown" the share diagnosed `unknown`.
Then how many evidence lines an answer shows (median, largest), and per confidence band and per winning
signature how often the cause line is right.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import Case, chunks, cidiff_cases, logchunks_cases  # noqa: E402

from azura.analyze.candidates import failing_bounds, place_of  # noqa: E402
from azura.context import Settings  # noqa: E402
from azura.engine import analyze_logs  # noqa: E402
from azura.models import FailedStep, StepLog  # noqa: E402

BANDS = ((0.8, "high (>= 0.8)"), (0.5, "medium (0.5-0.8)"), (0.0, "low (< 0.5)"))


@dataclass(frozen=True)
class Outcome:
    corpus: str  # logchunks-a, logchunks-b, cidiff-github
    name: str
    cause: bool  # evidence[0] is a labelled line
    any: bool  # some evidence line is labelled
    unknown: bool
    confidence: float
    signature: str  # the winning signature's id, or "unknown"
    first_evidence: str  # "N: text" of evidence[0], for reading misses
    labelled: str  # "N: text" of the first labelled line the excerpt shows, for reading misses
    # where evidence[0] and the first labelled line sit against the failing section (failing, before, after;
    # "absent" when the excerpt does not show the label): the mechanism a miss comes from
    said_place: str = ""
    labelled_place: str = ""
    evidence: int = 0  # how many evidence lines the answer shows


def half(repository: str) -> str:
    """Return "a" or "b": a stable split of LogChunks by repository."""
    return "ab"[hashlib.sha256(repository.encode()).digest()[0] % 2]


def corpus_name(case: Case) -> str:
    if case.corpus != "logchunks":
        return case.corpus
    repository = case.name.split("/")[1]  # <Language>/<owner>@<repo>/failed/<id>.log
    return f"logchunks-{half(repository)}"


def diagnose(case: Case, budget: int, tokenizer: str = "estimate") -> Outcome:
    """Return how the offline diagnosis of one case compares with its label."""
    step = FailedStep(name=case.name, record_type="File")
    analysis = analyze_logs([StepLog(step, chunks(case.path))],
                            Settings(budget=budget, history=False, tokenizer=tokenizer))
    failure = analysis.failures[0]
    wanted = set(case.labelled)
    numbers = [line.number for line in failure.evidence]
    first = failure.evidence[0] if failure.evidence else None
    shown = [line for line in failure.excerpt.lines if line.number in wanted]
    bounds = failing_bounds(failure.excerpt)
    return Outcome(
        corpus=corpus_name(case), name=case.name, cause=bool(numbers) and numbers[0] in wanted,
        any=any(n in wanted for n in numbers), unknown=failure.category == "unknown",
        confidence=failure.confidence, signature=failure.signature_id or "unknown",
        first_evidence=f"{first.number}: {first.text[:160]}" if first else "",
        labelled=f"{shown[0].number}: {shown[0].text[:160]}" if shown else "(not in the excerpt)",
        said_place=place_of(first.number, bounds) if first else "", labelled_place=place_of(shown[0].number, bounds)
        if shown else "absent", evidence=len(failure.evidence))


def share(rows: Sequence[Outcome], attribute: str) -> str:
    return f"{sum(getattr(r, attribute) for r in rows) / max(1, len(rows)):.1%}"


def summary_table(outcomes: Sequence[Outcome]) -> str:
    """Return the headline figures per corpus as a markdown table."""
    groups: Dict[str, List[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.corpus].append(outcome)
        if outcome.corpus.startswith("logchunks-"):
            groups["logchunks"].append(outcome)
    rows = ["| corpus | logs | cause line in label | any evidence in label | unknown |", "|---|---|---|---|---|"]
    for corpus in sorted(groups):
        group = groups[corpus]
        rows.append(f"| {corpus} | {len(group)} | {share(group, 'cause')} | {share(group, 'any')} | "
                    f"{share(group, 'unknown')} |")
    return "\n".join(rows)


def evidence_lengths(outcomes: Sequence[Outcome]) -> str:
    """Return the median and largest number of evidence lines per answer, per corpus."""
    rows = []
    for corpus in ("logchunks", "cidiff-github"):
        counts = [o.evidence for o in outcomes if o.corpus.startswith(corpus)]
        if counts:
            rows.append(f"{corpus}: median {statistics.median(counts):g}, max {max(counts)}")
    return "evidence lines per answer: " + "; ".join(rows)


def band_of(confidence: float) -> str:
    return next(name for floor, name in BANDS if confidence >= floor)


def band_table(outcomes: Sequence[Outcome]) -> str:
    """Return, per corpus and confidence band, how many answers there were and how often the cause line was right."""
    rows = ["| corpus | band | answers | cause line right |", "|---|---|---|---|"]
    for corpus in ("logchunks", "cidiff-github"):
        group = [o for o in outcomes if o.corpus.startswith(corpus)]
        for _, band in BANDS:
            members = [o for o in group if band_of(o.confidence) == band]
            rows.append(f"| {corpus} | {band} | {len(members)} | {share(members, 'cause')} |")
    return "\n".join(rows)


def signature_table(outcomes: Sequence[Outcome], corpus: str = "logchunks") -> str:
    """Return wrong/total of the cause line per winning signature, most wrong first."""
    counts: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for outcome in outcomes:
        if outcome.corpus.startswith(corpus):
            counts[outcome.signature][0] += not outcome.cause
            counts[outcome.signature][1] += 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1][0], -item[1][1], item[0]))
    return ", ".join(f"`{name}` {wrong}/{total}" for name, (wrong, total) in ranked)


def miss_mechanisms(misses: Sequence[Outcome]) -> str:
    """Return the misses counted by (where the cause line sits -> where the label sits), then by winning signature."""
    counts: Dict[str, int] = defaultdict(int)
    for outcome in misses:
        counts[f"{outcome.said_place or 'none'} -> {outcome.labelled_place}, {outcome.signature}"] += 1
    return "\n".join(f"  {count:4} {key}" for key, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the evaluation and print the tables; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path, help="the shared corpus directory")
    parser.add_argument("--budget", type=int, default=2048)
    parser.add_argument("--limit", type=int, default=0, help="evaluate only the first N logs of each corpus")
    parser.add_argument("--misses", choices=("a", "b", "all", "cidiff"), help="list the misses of this part, counted by mechanism first")
    parser.add_argument("--save", type=Path, help="write every outcome as JSON lines, to compare runs")
    parser.add_argument("--tokenizer", choices=("estimate", "cl100k"), default="estimate",
                        help="what counts the budget: the estimate (Azura's default) or cl100k (the tokenizer extra)")
    args = parser.parse_args(argv)
    cases: List[Case] = []
    for source in (logchunks_cases, cidiff_cases):
        found = list(source(args.corpus))
        cases.extend(found[:args.limit] if args.limit else found)
    started = time.monotonic()
    outcomes = [diagnose(case, args.budget, args.tokenizer) for case in cases]
    elapsed = time.monotonic() - started
    print(f"Offline diagnosis at {args.budget} tokens\n")
    print(summary_table(outcomes))
    print(evidence_lengths(outcomes))
    print()
    print(band_table(outcomes))
    print("\nwrong/total of the cause line per winning signature (LogChunks):")
    print(signature_table(outcomes))
    print("\nthe same, CiDiff GitHub Actions:")
    print(signature_table(outcomes, "cidiff-github"))
    print(f"\n{len(cases)} logs in {elapsed:.0f} s")
    if args.save:
        with open(args.save, "w", encoding="utf-8") as out:
            for outcome in outcomes:
                out.write(json.dumps(outcome.__dict__) + "\n")
    if args.misses:
        part = {"a": "logchunks-a", "b": "logchunks-b", "all": "logchunks", "cidiff": "cidiff-github"}[args.misses]
        misses = [outcome for outcome in outcomes if outcome.corpus.startswith(part) and not outcome.cause]
        print(f"\nmisses by where the cause line and the label sit (said -> label), {len(misses)} in all:")
        print(miss_mechanisms(misses))
        for outcome in sorted(misses, key=lambda o: (o.said_place, o.labelled_place, o.signature, o.name)):
            print(f"\nMISS {outcome.name} [{outcome.signature} {outcome.confidence:.2f}] "
                  f"{outcome.said_place} -> {outcome.labelled_place}\n"
                  f"  said : {outcome.first_evidence}\n  label: {outcome.labelled}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
