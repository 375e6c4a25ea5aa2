"""Supervised warm start: the batch layout, and that training on references raises the validation score."""

from __future__ import annotations

import time

import gymnasium as gym
import pytest
import torch

import textgym  # noqa: F401
from agents.evaluation import evaluate as play
from agents.policy import TransformerPolicy
from agents.sft import SFT, SFTConfig, sft_batch, train_sft
from textgym.error import InvalidArgumentError

KW = {"difficulty": 1, "max_new_tokens": 16, "num_examples": {"train": 300, "validation": 32}}


def test_sft_batch_layout():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)
    input_ids, attention, labels = sft_batch(envs, torch.tensor([0, 5]))
    P = envs.max_prompt_tokens
    envs_single = gym.make("TextGen-Translate-v0", **KW).unwrapped
    envs_single.reset(options={"example_index": 5})
    reference = envs_single.reference_actions()  # tokens + EOS
    assert labels[1, : len(reference)].tolist() == reference and (labels[1, len(reference) :] == -100).all()
    assert input_ids[1, P : P + len(reference)].tolist() == reference
    assert attention[1, P:].sum() == len(reference) and torch.equal(input_ids[1, :P], envs.prompt_ids[5])


@pytest.mark.slow
def test_sft_lowers_the_loss_and_raises_the_validation_score():
    torch.manual_seed(0)
    train = gym.make_vec("TextGen-Translate-v0", num_envs=16, autoreset_mode="Disabled", **KW)
    val = gym.make_vec("TextGen-Translate-v0", num_envs=32, autoreset_mode="Disabled", split="validation", **KW)
    policy = TransformerPolicy("tiny", train.vocab_size, max_positions=96, eos_token_id=train.eos_token_id).eval()
    before = evaluate(policy, val)
    losses = train_sft(policy, train, SFTConfig(steps=200, batch_size=16, learning_rate=2e-3))
    after = evaluate(policy, val)
    with pytest.raises(AttributeError, match=r"agents.sft.evaluate moved: use agents.evaluation.evaluate"):
        import agents.sft

        agents.sft.evaluate  # noqa: B018 - the removed name points to its replacement
    assert sum(losses[-20:]) / 20 < 0.6 * sum(losses[:20]) / 20
    assert after > before + 0.2, (before, after)


def test_learn_counts_supervised_tokens_and_continues_one_batch_sequence():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)

    def fresh() -> TransformerPolicy:
        torch.manual_seed(0)
        return TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id)

    config = SFTConfig(batch_size=4, seed=3)
    chunked = SFT(fresh(), envs, config)
    chunked.learn(60)
    first = chunked.num_timesteps
    assert first >= 60 and first - 60 < 4 * 16  # stops at the first step reaching the target
    chunked.learn(60)
    assert chunked.num_timesteps >= first + 60
    steps = len(chunked.losses)
    # the same batches as one run of as many steps: the chunks continue one sequence
    single = SFT(fresh(), envs, config)
    assert single.train_steps(steps) == chunked.losses
    assert single.num_timesteps == chunked.num_timesteps
    # a step's timesteps are its supervised tokens: the references plus EOS
    index = torch.randint(len(envs.examples), (4,), generator=torch.Generator().manual_seed(3))
    counted = SFT(fresh(), envs, config)
    counted.step()
    assert counted.num_timesteps == int((sft_batch(envs, index)[2] != -100).sum())
    with pytest.raises(InvalidArgumentError, match=r"Expected total_timesteps to be a positive int, got 0"):
        chunked.learn(0)


def test_sft_config_errors():
    with pytest.raises(InvalidArgumentError, match=r"Expected SFTConfig.steps to be a positive int, got 0"):
        SFTConfig(steps=0)
    with pytest.raises(InvalidArgumentError, match=r"Expected SFTConfig.learning_rate > 0, got -1"):
        SFTConfig(learning_rate=-1)
    with pytest.raises(InvalidArgumentError, match=r"Expected SFTConfig.max_grad_norm > 0, got 0"):
        SFTConfig(max_grad_norm=0)
    with pytest.raises(InvalidArgumentError, match=r"Expected SFTConfig.labelled to be a positive int, got 0"):
        SFTConfig(labelled=0)
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)
    policy = TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id)
    with pytest.raises(InvalidArgumentError, match=r"SFTConfig.labelled=301 exceeds the split's 300 examples; "
                                                   r"accepted: 1..300 or None"):
        SFT(policy, envs, SFTConfig(labelled=301))


def test_a_label_budget_trains_on_the_first_examples_only(monkeypatch):
    """``labelled=N``: every batch is drawn from the split's first N examples (the RL stage still sees all)."""
    import agents.sft

    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)
    policy = TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id)
    drawn: list[torch.Tensor] = []
    real = agents.sft.sft_batch
    monkeypatch.setattr(agents.sft, "sft_batch", lambda e, index: drawn.append(index) or real(e, index))
    SFT(policy, envs, SFTConfig(batch_size=16, labelled=5)).train_steps(20)
    seen = torch.cat(drawn)
    assert seen.max() < 5 and set(seen.tolist()) == set(range(5))


def test_train_for_spends_the_seconds_training_and_scores_at_each_check():
    """The time-matched control: steps only between checks (scoring excluded from the seconds), the model in eval
    mode while scored, the curve's steps growing with each check."""
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)
    policy = TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id)
    trainer = SFT(policy, envs, SFTConfig(batch_size=4))
    modes = []

    def score() -> float:
        modes.append(policy.training)
        time.sleep(0.3)  # slow scoring must not eat into the training seconds
        return float(len(trainer.losses))

    # 0.5 s a check: a step of this model takes ~10 ms, so each check adds steps even on a loaded machine (at
    # 0.1 s a check, one slow step could spend the next check's share and repeat the step count)
    curve = trainer.train_for(1.5, 3, score)
    steps = [s for s, _ in curve]
    assert len(curve) == 3 and 0 < steps[0] < steps[1] < steps[2] == len(trainer.losses)
    assert [s for _, s in curve] == steps and modes == [False] * 3 and not policy.training
    with pytest.raises(InvalidArgumentError, match=r"Expected checks to be a positive int, got 0"):
        trainer.train_for(1.0, 0, score)


def test_max_grad_norm_clips_the_sft_step():
    """The clip was a hard-coded 1.0; a tiny one now bounds how far a step moves the weights."""
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)

    def moved(max_grad_norm):
        torch.manual_seed(0)
        policy = TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id)
        before = torch.cat([p.detach().flatten().clone() for p in policy.parameters()])
        SFT(policy, envs, SFTConfig(batch_size=4, learning_rate=1e-3, max_grad_norm=max_grad_norm,
                                    seed=0)).train_steps(3)
        return (torch.cat([p.detach().flatten() for p in policy.parameters()]) - before).abs().max().item()

    # Adam's step ignores the gradient's scale except through its eps (1e-8): gradients clipped to a norm of 1e-8
    # fall far below it and barely move the weights; ignoring the setting would move both runs alike
    assert moved(1e-8) < 0.1 * moved(1.0)


def evaluate(policy, envs, episodes="all", seed=0):
    return play(policy, envs, episodes, seed=seed).mean_reward


def test_evaluate_all_scores_every_example_once_whatever_the_batch():
    kw = {**KW, "num_examples": {"train": 300, "validation": 20}}
    torch.manual_seed(0)
    envs8 = gym.make_vec("TextGen-Translate-v0", num_envs=8, autoreset_mode="Disabled", split="validation", **kw)
    envs20 = gym.make_vec("TextGen-Translate-v0", num_envs=20, autoreset_mode="Disabled", split="validation", **kw)
    policy = TransformerPolicy("tiny", envs8.vocab_size, max_positions=96, eos_token_id=envs8.eos_token_id).eval()
    # 20 examples in batches of 8, 8 and 4 (the last batch's 4 extra rows replay examples 0-3 and are dropped)
    by_8, by_20 = evaluate(policy, envs8, "all"), evaluate(policy, envs20, "all")
    assert by_20 > 0 and by_8 == pytest.approx(by_20, abs=1e-9)
    first_8, first_8_by_20 = play(policy, envs8, 8), play(policy, envs20, 8)
    assert first_8.rewards == first_8_by_20.rewards  # the first 8 examples, whatever the batch
    assert first_8.mean_reward != pytest.approx(by_20, abs=1e-9)


def test_evaluate_leaves_the_global_generator_alone():
    for episodes in ("all", 3):
        envs = gym.make_vec("TextGen-Translate-v0", num_envs=4, autoreset_mode="Disabled", split="validation",
                            **{**KW, "num_examples": {"train": 300, "validation": 6}})
        policy = TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id)
        state = torch.get_rng_state()
        evaluate(policy.eval(), envs, episodes)  # a fresh env: its first reset must not draw row seeds globally
        assert torch.equal(torch.get_rng_state(), state), episodes


@pytest.mark.parametrize("episodes", [0, -3, "some", True, 2.5, 301])
def test_evaluate_rejects_bad_episode_counts(episodes):
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, autoreset_mode="Disabled", **KW)
    policy = TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id)
    with pytest.raises(InvalidArgumentError, match=repr(episodes).replace(".", r"\.")):
        evaluate(policy, envs, episodes)
