"""The sandbox benchmark runs end to end (its figures are reported, never asserted)."""

from __future__ import annotations

import pytest

from benchmarks.throughput.sandbox import main, run


def test_sandbox_benchmark_runs(capsys):
    result = run(count=6, workers=1)
    assert result["programs"] == 6 and result["sandbox_per_s"] > 0 and result["plain_subprocess_per_s"] > 0
    assert main(["--programs", "4", "--workers", "1"]) == 0
    assert "ratio (sandbox / plain)" in capsys.readouterr().out


@pytest.mark.slow
def test_env_benchmark_measures_every_side_and_token_bleu_tracks_bleu():
    from benchmarks.throughput.env import measure, token_bleu_correlation

    for side in ("ours", "sync", "dummy"):
        result = measure(4, "token_bleu", side, seconds=0.0)
        assert result["steps_per_s"] > 0 and 0.0 <= result["scoring_share"] <= 1.0
    assert token_bleu_correlation(episodes=120) > 0.9  # measured 0.959 over 300 episodes


@pytest.mark.slow
def test_train_benchmark_measures_both_trainers():
    from benchmarks.throughput.train import measure

    result = measure(num_envs=4, updates=1)
    assert result["ours_tokens_per_s"] > 0 and result["sb3_tokens_per_s"] > 0
    assert abs(result["share_rollout"] + result["share_rescore"] + result["share_optimise"] - 1) < 1e-9
