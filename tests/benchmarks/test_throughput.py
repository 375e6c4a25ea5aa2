"""The sandbox benchmark runs end to end (its figures are reported, never asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.throughput.sandbox import main, run
from tests.data import shared_data


def test_sandbox_benchmark_runs(capsys):
    result = run(count=6, workers=1)
    assert result["programs"] == 6 and result["sandbox_per_s"] > 0 and result["plain_subprocess_per_s"] > 0
    assert main(["--programs", "4", "--workers", "1"]) == 0
    assert "ratio (sandbox / plain)" in capsys.readouterr().out


def test_sandbox_benchmark_runs_humaneval_through_the_judge():
    shared_data("humaneval")
    result = run(count=3, workers=1, dataset="humaneval")  # asserts every reference passes in the sandbox
    assert result["programs"] == 3 and result["sandbox_per_s"] > 0


@pytest.mark.slow
def test_env_benchmark_measures_every_side_and_token_bleu_tracks_bleu():
    from benchmarks.throughput.env import measure, repeated, token_bleu_correlation

    for side in ("ours", "sync", "dummy"):
        result = measure(4, "token_bleu", side, seconds=0.0)
        assert result["steps_per_s"] > 0 and 0.0 <= result["scoring_share"] <= 1.0
    runs = repeated(4, "chrf", ["ours", "sync"], repeats=2, seconds=0.0)  # the table's median and range
    assert {side: len(r) for side, r in runs.items()} == {"ours": 2, "sync": 2}
    assert token_bleu_correlation(episodes=120) > 0.9  # measured 0.959 over 300 episodes


@pytest.mark.slow
def test_train_benchmark_measures_both_trainers():
    from benchmarks.throughput.train import measure

    result = measure(num_envs=4, updates=1)
    assert result["ours_tokens_per_s"] > 0 and result["sb3_tokens_per_s"] > 0
    assert result["rollout_tokens_per_s"] > result["ours_tokens_per_s"] and result["model_tflops_per_s"] > 0
    assert abs(result["share_rollout"] + result["share_rescore"] + result["share_optimise"] - 1) < 1e-9
    alone = measure(num_envs=4, updates=1, peer=False, peak_tflops=1.0)
    assert "sb3_tokens_per_s" not in alone and alone["mfu"] == alone["model_tflops_per_s"]


def test_flop_counter_counts_forward_and_training_positions():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from benchmarks.throughput._train_worker import FlopCounter

    model = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_positions=16, n_layer=1, n_head=2, n_embd=8))
    counter = FlopCounter(model)
    params = sum(p.numel() for p in model.parameters()) - model.transformer.wpe.weight.numel()
    assert counter.params == params  # the tied LM head counted once, the position table not at all
    assert counter.head == 50 * 8 and counter.trunk == params - 50 * 8
    with torch.no_grad():
        model(input_ids=torch.zeros((3, 5), dtype=torch.long))  # a forward: 2 FLOPs a parameter a position
    model(input_ids=torch.zeros((2, 4), dtype=torch.long)).logits.sum().backward()  # with its backward: 6
    assert counter.counts == {"trunk_forward": 15, "trunk_train": 8, "head_forward": 15, "head_train": 8}
    assert counter.flops() == 2 * params * 15 + 6 * params * 8
    assert counter.training_flops() == 6 * params * 8
    # the head run at one position a row (prefill, the response-only head) is charged for that position only
    counter.reset()
    with torch.no_grad():
        model(input_ids=torch.zeros((3, 5), dtype=torch.long), logits_to_keep=1)
    assert counter.flops() == 2 * (counter.trunk * 15 + counter.head * 3)


def test_the_matmul_peak_times_only_the_precisions_asked_for():
    from benchmarks.throughput.train import matmul_peak

    fp32 = matmul_peak(1, size=128, repeats=2, precisions=("fp32",))
    assert list(fp32) == ["fp32"] and fp32["fp32"] > 0  # no emulated bf16 products on a CPU without bf16
    both = matmul_peak(1, size=64, repeats=1)
    assert list(both) == ["fp32", "bf16"] and min(both.values()) > 0


@pytest.mark.slow
def test_a_timed_side_reports_the_precision_it_resolved_to(tmp_path):
    """The MFU is against the peak of what ran: "auto" is fp32 on a CPU, so its peak is the fp32 one."""
    from benchmarks.throughput.train import PRESETS, run_side
    data = shared_data("multi30k").parent
    tiny = {**PRESETS["multi30k-ppo"], "pairs": 40, "vocab_size": 300, "num_envs": 4, "max_new_tokens": 4,
            "threads": 1, "updates": 1, "data_dir": str(data), "work_dir": str(tmp_path)}
    here = Path(__file__).resolve().parents[2]
    resolved = {precision: run_side(here, {**tiny, "ppo": {**tiny["ppo"], "batch_size": 4, "precision": precision}})
                for precision in ("auto", "fp32", "bf16")}
    assert {p: r["precision"] for p, r in resolved.items()} == {"auto": "fp32", "fp32": "fp32", "bf16": "bf16"}
    assert all(r["tokens_per_s"] > 0 and r["optimise_flops_per_s"] > 0 for r in resolved.values())


@pytest.mark.slow
def test_a_side_of_two_ranks_shares_the_preset_s_envs_minibatch_and_threads(tmp_path):
    """Two torchrun ranks run the preset's update together: the envs split, every rank's tokens counted once."""
    from benchmarks.throughput.train import PRESETS, run_side
    data = shared_data("multi30k").parent
    tiny = {**PRESETS["multi30k-ppo"], "pairs": 40, "vocab_size": 300, "num_envs": 4, "max_new_tokens": 4,
            "threads": 2, "updates": 2, "data_dir": str(data), "work_dir": str(tmp_path)}
    tiny["ppo"] = {**tiny["ppo"], "batch_size": 4, "precision": "fp32"}
    here = Path(__file__).resolve().parents[2]
    one, two = run_side(here, tiny), run_side(here, {**tiny, "ranks": 2})
    assert (one["ranks"], two["ranks"]) == (1, 2)
    # 4 episodes of up to 4 tokens an update, 2 timed updates: 32 tokens (fewer where a row samples EOS early). A
    # rank alone has 2 of the envs, so at most 16: more than that is both ranks' tokens, counted once
    assert 16 < one["tokens"] <= 32 and 16 < two["tokens"] <= 32
    assert two["optimise_flops_per_s"] > 0 and two["flops_per_s"] > 0
    with pytest.raises(RuntimeError, match="num_envs=5 does not split over 2 ranks"):
        run_side(here, {**tiny, "num_envs": 5, "ranks": 2})
