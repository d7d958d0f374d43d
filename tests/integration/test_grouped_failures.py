"""Many failed steps, one readable answer: steps failing for the same cause are read once and reported once."""
from __future__ import annotations

from tests.emulators import ado_scenarios as scenarios

OFFLINE = ("--llm-provider", "none", "--no-history")


def test_shards_failing_on_the_same_test_share_one_diagnosis_read_from_one_log(emulator, agent_env, run_step):
    scenario = scenarios.shards_sharing_failing_tests(emulator, shards=12, tests=2)

    failures = run_step(agent_env(emulator, scenario), *OFFLINE).analysis["failures"]

    assert [f["same_as"] for f in failures] == [None, None] + [index % 2 for index in range(10)]
    for failure, expected in zip(failures, scenario.failed):
        read = failures[failure["same_as"]] if failure["same_as"] is not None else failure
        assert expected.cause_text in read["root_cause"] + " ".join(t["name"] for t in read["facts"]["failing_tests"])
        assert (failure["job"], failure["task"]) == (expected.job, expected.name)
    assert all(not f["excerpt"] and not f["evidence"] for f in failures[2:])


def test_summary_and_pr_comment_stay_the_same_size_whatever_the_number_of_alike_steps(emulator, agent_env, run_step,
                                                                                        tmp_path):
    sizes = []
    for shards in (6, 60):
        scenario = scenarios.shards_sharing_failing_tests(emulator, shards=shards, tests=3)
        step = run_step(agent_env(emulator, scenario), *OFFLINE)
        summary = (step.output_dir / "summary.md").read_text(encoding="utf-8")
        comment = (step.output_dir / "pr-comment.md").read_text(encoding="utf-8")
        assert f"and {shards // 3 - 1} more" in summary
        sizes.append((len(summary), len(comment)))

    (few_summary, few_comment), (many_summary, many_comment) = sizes
    assert many_summary < few_summary + 200 and many_comment < few_comment + 200
