"""The RL-against-SFT benchmark: one seed end to end at a tiny budget (its figures are in benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest

from benchmarks.rl_vs_sft import run_seed


@pytest.mark.slow  # three evaluations of the 500 validation examples
@pytest.mark.parametrize("agent", ["ppo", "rest"])
def test_one_seed_reports_the_rl_stage_and_the_control_from_one_start(agent):
    record = run_seed(0, "TextGen-Translate-v0", "tiny", labelled=64, sft_steps=20, sft_lr=1e-3, updates=2,
                      control_lr=3e-5, control_checks=2, num_envs=8, agent=agent, anneal_steps=5)
    assert record["agent"] == agent and record["labelled"] == 64
    assert record["rl_gain"] == pytest.approx(record["after_rl"] - record["after_sft"])
    steps = [s for s, _ in record["control_checks"]]
    assert len(steps) == 2 and 0 < steps[0] <= steps[1]  # the control trained, in the RL stage's seconds
    assert record["control_best"] == max(score for _, score in record["control_checks"])
