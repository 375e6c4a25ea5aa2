"""The PPO trainer: it updates, is deterministic, saves and loads, and refuses bad input."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch

import textgym  # noqa: F401
from agents.ppo import PPO
from textgym.error import InvalidArgumentError, UnknownNameError

ENV = "TextGen-Translate-v0"
ENV_KWARGS = {"difficulty": 1, "max_new_tokens": 4, "num_examples": {"train": 20}}


def make(**kwargs):
    options = {"num_envs": 8, "seed": 0, "batch_size": 8, "n_epochs": 2, "env_kwargs": ENV_KWARGS, **kwargs}
    return PPO("tiny", ENV, **options)


def test_learn_updates_the_policy_and_logs(tmp_path):
    model = make(log_path=tmp_path)
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=8 * 4 * 2)
    assert model.num_timesteps >= 64 and len(model.history) >= 2
    assert any(not torch.equal(b, p) for b, p in zip(before, model.policy.parameters(), strict=True))
    assert all(torch.equal(b, p) for b, p in zip(before, model.reference.parameters(), strict=True))  # frozen
    stats = model.history[-1]
    expected = {"rollout/ep_rew_mean", "train/policy_gradient_loss", "train/value_loss", "train/approx_kl",
                "train/kl_to_ref", "train/entropy_loss", "train/learning_rate", "train/clip_range",
                "train/explained_variance", "time/fps"}  # SB3's tag names
    assert expected | {"train/loss"} <= set(stats)
    assert 0.0 <= stats["rollout/ep_rew_mean"] <= 1.0
    one = make(n_epochs=1)  # one minibatch an update: SB3's train/loss (the last minibatch's) is the whole loss
    one.learn(8 * 4)
    last = one.history[-1]
    assert last["train/loss"] == pytest.approx(last["train/policy_gradient_loss"] + 0.5 * last["train/value_loss"])
    with open(tmp_path / "progress.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(model.history) and float(rows[-1]["time/total_timesteps"]) == model.num_timesteps


def test_greedy_baseline_replays_the_same_examples_without_advancing_the_draws():
    scst, plain = make(baseline="greedy"), make()
    scst.learn(8 * 4)
    plain.learn(8 * 4)
    assert torch.equal(scst.env.counters, plain.env.counters)  # the greedy replays used no draws
    stats = scst.history[-1]
    assert 0.0 <= stats["rollout/greedy_rew_mean"] <= 1.0 and "rollout/greedy_rew_mean" not in plain.history[-1]
    # the next rollout samples the examples an uninterrupted value-baseline run samples
    scst.learn(8 * 4)
    plain.learn(8 * 4)
    assert torch.equal(scst.env.example_index, plain.env.example_index)


def test_group_baseline_plays_each_drawn_example_group_size_times():
    model = make(baseline="group", group_size=4)
    model.learn(8 * 4)
    counters = model.env.counters.clone()
    model.learn(8 * 4, reset_num_timesteps=False)
    groups = model.env.example_index.view(2, 4)
    assert torch.equal(groups, groups[:, :1].expand(2, 4))  # one example per group of 4 consecutive rows
    assert torch.equal(model.env.counters, counters)  # chosen examples: the env's own draws did not advance
    assert "rollout/greedy_rew_mean" not in model.history[-1]
    with pytest.raises(InvalidArgumentError, match="group_size=3 does not divide num_envs=8"):
        make(baseline="group", group_size=3)


def test_two_runs_with_one_seed_are_identical():
    a, b = make(), make()
    a.learn(64)
    b.learn(64)
    assert all(torch.equal(p, q) for p, q in zip(a.policy.parameters(), b.policy.parameters(), strict=True))
    assert a.history[-1]["rollout/ep_rew_mean"] == b.history[-1]["rollout/ep_rew_mean"]


def test_save_load_round_trip(tmp_path):
    model = make()
    model.learn(64)
    model.save(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo")
    assert loaded.num_timesteps == model.num_timesteps and loaded.kl_coef == model.kl_coef
    assert all(torch.equal(p, q) for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True))
    env = gym.make(ENV, **ENV_KWARGS)
    obs, _ = env.reset(seed=1)
    action, _ = model.predict(obs, deterministic=True)
    assert loaded.predict(obs, deterministic=True)[0] == action and 0 <= action < env.action_space.n
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    assert model.predict(batch, deterministic=True)[0].tolist() == [action, action]


def test_bad_input():
    with pytest.raises(InvalidArgumentError, match=r"PPO trains on a TextGenVectorEnv with autoreset_mode=DISABLED"):
        PPO("tiny", gym.make_vec(ENV, num_envs=2, **ENV_KWARGS))
    with pytest.raises(InvalidArgumentError, match=r"PPO trains on a TextGenVectorEnv.*\(CartPoleEnv\)"):
        PPO("tiny", gym.make("CartPole-v1").unwrapped)
    with pytest.raises(InvalidArgumentError, match=r"batch_size=3 does not divide .* = 1 \* 8 = 8 episodes"):
        make(batch_size=3)
    with pytest.raises(InvalidArgumentError, match=r"Expected total_timesteps to be a positive int, got 0"):
        make().learn(0)
    with pytest.raises(TypeError, match=r"PPO got unexpected keyword argument\(s\) \['nsteps'\]"):
        make(nsteps=4)
    with pytest.raises(UnknownNameError, match=r"(?s)Could not load model 'tinyy'.*Did you mean 'tiny'\?"):
        PPO("tinyy", ENV, num_envs=8, batch_size=8, env_kwargs=ENV_KWARGS)
    with pytest.raises(InvalidArgumentError, match=r"No saved PPO model in"):
        PPO.load("/nonexistent/ppo")


def test_init_sft_warm_starts_and_becomes_the_reference(tmp_path):
    from agents.sft import SFTConfig

    model = make(init="sft", sft_config=SFTConfig(steps=5, batch_size=8))
    assert len(model.sft_losses) == 5
    assert all(torch.equal(p, q) for p, q in zip(model.policy.parameters(), model.reference.parameters(), strict=True))
    model.save(tmp_path / "warm")
    resumed = make(init=tmp_path / "warm")
    assert all(torch.equal(p, q) for p, q in zip(model.policy.parameters(), resumed.policy.parameters(), strict=True))
    with pytest.raises(InvalidArgumentError, match=r"Unknown init 'sftt'. Accepted: None, 'sft'"):
        make(init="sftt")


def test_callbacks_checkpoint_eval_and_stop(tmp_path):
    from agents.ppo.callbacks import CheckpointCallback, EvalCallback

    val = gym.make_vec(ENV, num_envs=8, autoreset_mode="Disabled", split="validation",
                       **{**ENV_KWARGS, "num_examples": {"validation": 8}})
    checkpoints = CheckpointCallback(save_freq=2, save_path=tmp_path / "ckpt")
    evaluations = EvalCallback(val, eval_freq=2, best_model_save_path=tmp_path / "best")
    calls = []
    model = make(log_path=tmp_path / "logs")
    stop_after_four = lambda s: calls.append(s) or len(calls) < 4  # noqa: E731
    model.learn(total_timesteps=8 * 4 * 10, callback=[checkpoints, evaluations, stop_after_four])
    assert len(model.history) == 4  # the function stopped training after the 4th update
    steps = [int(model.history[i]["time/total_timesteps"]) for i in (1, 3)]  # after updates 2 and 4
    assert [p.name for p in checkpoints.saved] == [f"ppo_{t}_steps" for t in steps] and 32 < steps[0] <= 64
    assert (tmp_path / "best" / "policy.safetensors").is_file() and len(evaluations.evaluations) == 2
    assert "eval/mean_reward" in model.history[1] and 0 <= model.history[1]["eval/mean_reward"] <= 1
    with open(tmp_path / "logs" / "progress.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 4 and rows[0]["eval/mean_reward"] == "" and rows[1]["eval/mean_reward"] != ""
    with pytest.raises(InvalidArgumentError, match=r"Expected save_freq to be a positive int \(updates\), got 0"):
        CheckpointCallback(save_freq=0, save_path=tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"Expected callback to be a BaseCallback.*got 3 \(int\)"):
        make().learn(32, callback=3)


def test_resuming_from_a_checkpoint_equals_an_uninterrupted_run(tmp_path):
    uninterrupted = make()
    uninterrupted.learn(8 * 4 * 4)
    first = make()
    first.learn(8 * 4 * 2)
    first.save(tmp_path / "half")
    resumed = PPO.load(tmp_path / "half")
    resumed.learn(8 * 4 * 2, reset_num_timesteps=False)
    assert resumed.num_timesteps == uninterrupted.num_timesteps
    for p, q in zip(uninterrupted.policy.parameters(), resumed.policy.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_tensorboard_log(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = make(tensorboard_log=tmp_path / "tb")
    model.learn(64)
    assert [p.name for p in (tmp_path / "tb").iterdir()] == ["PPO_1"]  # as SB3 names its runs
    events = EventAccumulator(str(tmp_path / "tb" / "PPO_1"))
    events.Reload()
    rewards = events.Scalars("rollout/ep_rew_mean")
    assert len(rewards) == len(model.history) and rewards[-1].step == model.num_timesteps
    assert rewards[-1].value == pytest.approx(model.history[-1]["rollout/ep_rew_mean"])


def test_each_epoch_draws_a_new_minibatch_order():
    """The order came from a generator reseeded from num_timesteps, which does not change inside an update: every
    epoch saw the same minibatches. Now one persistent stream (saved with checkpoints: the resume test above)."""
    model = make(n_epochs=3, batch_size=4)
    orders = []
    draw = model._minibatches
    model._minibatches = lambda size: orders.append(torch.cat(draw(size)).tolist()) or draw(size)  # type: ignore
    model.learn(8 * 4)
    assert len(orders) == 3 and len({tuple(o) for o in orders}) == 3
    assert all(sorted(o) == list(range(8)) for o in orders)


def _adam_steps(model):
    return max(int(state["step"]) for state in model.optimizer.state.values())


def test_target_kl_stops_the_epochs_early_as_sb3_and_leaves_kl_coef_alone():
    free = make(n_epochs=4, batch_size=4)
    free.learn(8 * 4)
    assert _adam_steps(free) == 8  # 4 epochs of 2 minibatches
    stopped = make(n_epochs=4, batch_size=4, target_kl=1e-6)
    stopped.learn(8 * 4)
    stats = stopped.history[-1]
    assert 1 <= _adam_steps(stopped) < 8 and stats["train/approx_kl"] > 0
    assert stopped.kl_coef == 0.05  # early stopping is all target_kl does (it drove the controller too)


def test_the_kl_controller_has_its_own_target_and_horizon():
    model = make(kl_target=1.0, kl_horizon=100)
    model.learn(8 * 4)
    # the first update's policy is the reference: KL ~ 0, far below the target, so kl_coef shrinks by the
    # clipped step, scaled by episodes / horizon
    assert model.history[-1]["train/kl_to_ref"] < 0.8
    assert model.kl_coef == pytest.approx(0.05 * (1 - 0.2 * 8 / 100), rel=1e-12)
    with pytest.raises(InvalidArgumentError, match=r"'adaptive_kl' was removed: the adaptive KL controller runs when "
                                                   r"kl_target is set"):
        make(adaptive_kl=True)
    with pytest.raises(InvalidArgumentError, match=r"Expected kl_horizon to be a positive int, got 0"):
        make(kl_horizon=0)


def _parameters(model):
    return [p.detach().clone() for p in model.policy.parameters()]


def _record_teacher_forced(monkeypatch, policy, seen: list[bool]) -> None:
    """Append to ``seen``, for each teacher-forced forward of ``policy`` (not its rollout's), whether it had a graph."""
    import agents.rollout

    real = agents.rollout.response_forward

    def recorded(model, *args):
        if model is policy:
            seen.append(torch.is_grad_enabled())
        return real(model, *args)

    monkeypatch.setattr(agents.rollout, "response_forward", recorded)


def test_skipped_forwards_change_no_result(monkeypatch):
    """No reference forward with kl_coef=0 and no controller; no value loss when the baseline does not read the
    values: the trained weights are those of a run that computes them and multiplies them by zero."""
    lean = make(kl_coef=0.0)
    assert lean.reference is None  # no KL read: no second copy of the weights kept either
    lean.learn(8 * 4 * 2)
    assert "train/kl_to_ref" not in lean.history[-1]
    full = make(kl_coef=0.0, kl_target=1.0)  # the controller needs the KL; 0 times any factor stays 0
    full.learn(8 * 4 * 2)
    assert full.kl_coef == 0.0 and "train/kl_to_ref" in full.history[-1]
    for p, q in zip(_parameters(lean), _parameters(full), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    forwards: list[bool] = []
    group = make(baseline="group", group_size=4, kl_coef=0.0)
    _record_teacher_forced(monkeypatch, group.policy, forwards)
    group.learn(8 * 4)
    no_values = make(baseline="group", group_size=4, kl_coef=0.0, vf_coef=0.0)
    no_values.learn(8 * 4)
    assert "train/value_loss" not in group.history[-1]
    # nothing needs the old outputs before training: the first (here the only) minibatch's training forward doubles
    # as its re-scoring, so the teacher-forced forwards are the two epochs' and no other
    assert forwards == [True, True]
    with_kl = make(baseline="group", group_size=4, kl_coef=0.0, kl_target=1.0)  # the KL is read: the reference runs
    for p, q, r in zip(_parameters(group), _parameters(no_values), _parameters(with_kl.learn(8 * 4)), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
        torch.testing.assert_close(p, r, rtol=0, atol=0)


@pytest.mark.parametrize("settings", [{}, {"baseline": "group", "group_size": 4, "kl_coef": 0.0, "kl_target": 1.0},
                                      {"n_epochs": 2, "batch_size": 4, "ent_coef": 0.01}],
                         ids=["value-kl", "group-kl", "minibatches"])
def test_the_first_minibatch_is_not_rescored_and_nothing_changes(monkeypatch, settings):
    """The first minibatch's training forward is its re-scoring, also when GAE, the KL penalty and the value
    clipping read the old outputs: the same weights and statistics as a run with a separate no-grad forward."""
    runs = {}
    for fold in (True, False):
        monkeypatch.setattr(PPO, "fold_first_rescore", fold)
        model = make(**settings)
        forwards: list[bool] = []
        _record_teacher_forced(monkeypatch, model.policy, forwards)
        model.learn(8 * 4 * 2)
        runs[fold] = model, forwards
    (folded, folded_forwards), (full, full_forwards) = runs[True], runs[False]
    updates, minibatches = len(full.history), 8 // folded.config.batch_size
    assert len(folded.history) == updates >= 2
    # teacher-forced forwards only (the rollout runs prefill and decode): no-grad re-scoring, then training ones
    assert folded_forwards.count(False) == updates * (minibatches - 1)  # the other minibatches are re-scored
    assert full_forwards.count(False) == updates * minibatches
    assert folded_forwards.count(True) == full_forwards.count(True) == updates * folded.config.n_epochs * minibatches
    for p, q in zip(_parameters(folded), _parameters(full), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    for key, value in full.history[-1].items():
        if not key.startswith("time/"):
            assert folded.history[-1][key] == pytest.approx(value, rel=1e-6, nan_ok=True), key


def test_the_first_minibatch_of_an_update_has_a_ratio_of_exactly_one(monkeypatch):
    """Old log-probs come from the same teacher-forced forward, on the same minibatches, as the first epoch's."""
    from tests.fakes import record_log_ratios

    seen = record_log_ratios(monkeypatch)
    model = make(n_epochs=2, batch_size=4)
    model.learn(8 * 4 * 2)
    per_update = 2 * 2  # epochs x minibatches
    assert [seen[i] for i in range(0, len(seen), per_update)] == [0.0] * (len(seen) // per_update)
    assert max(seen) > 0  # later minibatches see a moved policy


def test_save_load_any_architecture(tmp_path):
    """PPO.load rebuilds the saved architecture through AutoConfig (it only knew GPT-2: issue 16, item 4)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    env = gym.make_vec(ENV, num_envs=8, autoreset_mode="Disabled", **ENV_KWARGS)
    V = int(env.single_action_space.n)
    lm = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                                      eos_token_id=env.eos_token_id, bos_token_id=None, pad_token_id=None))
    model = PPO(lm, env, n_steps=1, batch_size=8, n_epochs=1, seed=0)
    model.learn(16)
    model.save(tmp_path / "llama")
    loaded = PPO.load(tmp_path / "llama", env=env)
    assert type(loaded.policy.lm).__name__ == "LlamaForCausalLM"
    assert all(torch.equal(p, q) for p, q in zip(model.policy.parameters(), loaded.policy.parameters(), strict=True))


def test_sb3_logger_and_accessors(tmp_path):
    """An SB3 logger records every update under SB3's tag names; get_env() as in SB3."""
    from stable_baselines3.common.logger import Logger, configure

    model = make()
    assert model.get_env() is model.env and model.get_vec_normalize_env() is None
    assert isinstance(model.logger, Logger)  # as in SB3 there always is one (this one only feeds the statistics)
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(64)
    with open(tmp_path / "progress.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(model.history)
    assert {"train/policy_gradient_loss", "train/entropy_loss", "train/loss", "time/fps"} <= set(rows[-1])
    assert float(rows[-1]["train/entropy_loss"]) == pytest.approx(-model.history[-1]["train/entropy"])
    once = {"n": 0}

    def evaluated_once(stats):  # a key present in one update only must not leak into the next one's statistics
        once["n"] += 1
        if once["n"] == 1:
            stats["eval/mean_reward"] = 0.5

    first = len(model.history)
    model.learn(64, callback=evaluated_once)
    assert "eval/mean_reward" in model.history[first] and "eval/mean_reward" not in model.history[first + 1]
    with pytest.raises(InvalidArgumentError, match=r"Expected an SB3 Logger \(with record\(\) and dump\(\)\)"):
        model.set_logger("stdout")
