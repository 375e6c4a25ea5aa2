"""Stable-Baselines3's own callback objects with our PPO, on SB3's schedule (issue 16, item 8)."""

from __future__ import annotations

import csv
import warnings

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import (
    BaseCallback,
    CallbackList,
    CheckpointCallback,
    EvalCallback,
    StopTrainingOnMaxEpisodes,
)

import textgym  # noqa: F401
from agents.ppo import PPO
from agents.ppo.callbacks import BaseCallback as OurCallback
from textgym.vector.sb3 import SB3VecEnv

ENV = "TextGen-Translate-v0"
ENV_KWARGS = {"difficulty": 1, "max_new_tokens": 4, "num_examples": {"train": 20, "validation": 8}}


def make(**kwargs):
    return PPO("tiny", ENV, num_envs=8, seed=0, batch_size=8, n_epochs=1, env_kwargs=ENV_KWARGS, **kwargs)


class Recorder(BaseCallback):
    """An SB3 callback that records the hooks SB3 calls, in order, and what it sees at each step."""

    def __init__(self):
        super().__init__()
        self.events, self.timesteps, self.dones = [], [], 0

    def _on_training_start(self):
        self.events.append("training_start")

    def _on_rollout_start(self):
        self.events.append("rollout_start")

    def _on_step(self):
        self.events.append("step")
        self.timesteps.append(self.num_timesteps)
        self.dones += int(np.sum(self.locals["dones"]))
        assert self.locals["rewards"].shape == (self.training_env.num_envs,)
        return True

    def _on_rollout_end(self):
        self.events.append("rollout_end")

    def _on_training_end(self):
        self.events.append("training_end")


def test_sb3_schedule_one_step_call_per_env_step_counting_tokens():
    model, recorder = make(), Recorder()
    model.learn(8 * 4 * 3, callback=recorder)
    updates = len(model.history)
    assert recorder.events[0] == "training_start" and recorder.events[-1] == "training_end"
    rollouts = " ".join(recorder.events[1:-1]).split("rollout_end")[:-1]
    assert len(rollouts) == updates and all(r.split()[0] == "rollout_start" for r in rollouts)
    assert all(1 <= r.split().count("step") <= 4 for r in rollouts)  # one call per env step, at most T = 4
    assert recorder.n_calls == recorder.events.count("step")
    assert recorder.timesteps == sorted(recorder.timesteps) and recorder.timesteps[-1] == model.num_timesteps
    assert recorder.dones == 8 * updates  # every episode ends once, in the step it ends
    assert model.num_timesteps == sum(int(h["rollout/ep_len_mean"] * 8 + 0.5) for h in model.history)


def test_checkpoint_callback_saves_every_save_freq_env_steps(tmp_path):
    model, recorder = make(), Recorder()
    checkpoints = CheckpointCallback(save_freq=3, save_path=str(tmp_path), name_prefix="run")
    model.learn(8 * 4 * 3, callback=CallbackList([checkpoints, recorder]))
    saved = sorted(tmp_path.glob("run_*_steps*"))
    assert len(saved) == recorder.n_calls // 3 and saved
    expected = {f"run_{recorder.timesteps[i - 1]}_steps.zip" for i in range(3, recorder.n_calls + 1, 3)}
    assert {p.name for p in saved} == expected
    last = max(recorder.timesteps[i - 1] for i in range(3, recorder.n_calls + 1, 3))
    assert PPO.load(tmp_path / f"run_{last}_steps.zip").num_timesteps == last


def test_eval_callback_reaches_the_statistics_and_saves_the_best(tmp_path):
    eval_env = SB3VecEnv(gym.make_vec(ENV, num_envs=4, split="validation", **ENV_KWARGS))
    evaluation = EvalCallback(eval_env, eval_freq=4, n_eval_episodes=8, best_model_save_path=str(tmp_path / "best"),
                              log_path=str(tmp_path / "eval"), deterministic=True, warn=False)
    model = make(log_path=tmp_path)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Training and eval env are not of the same type")
        model.learn(8 * 4 * 3, callback=evaluation)
    assert evaluation.n_calls >= 8 and len(evaluation.evaluations_results) == evaluation.n_calls // 4
    assert any("eval/mean_reward" in h for h in model.history)  # through model.logger into the statistics
    with open(tmp_path / "progress.csv") as handle:
        rows = list(csv.DictReader(handle))
    scores = [float(r["eval/mean_reward"]) for r in rows if r.get("eval/mean_reward")]
    assert scores and all(0 <= s <= 1 for s in scores)
    assert np.load(tmp_path / "eval" / "evaluations.npz")["results"].shape == (len(evaluation.evaluations_results), 8)
    assert PPO.load(tmp_path / "best" / "best_model").num_timesteps > 0


def test_stop_training_on_max_episodes_stops_inside_a_rollout_and_trains_no_more():
    model = make()
    stop = StopTrainingOnMaxEpisodes(max_episodes=2, verbose=0)  # 2 per env: 16 episodes, the 2nd rollout's end
    model.learn(10**9, callback=stop)
    assert len(model.history) == 1  # the rollout where it stopped is not trained on (as SB3)
    assert model.num_timesteps < 10**9


def test_ours_and_sb3s_in_one_list():
    calls = []

    class Ours(OurCallback):
        def on_update(self, stats):
            calls.append(stats["time/total_timesteps"])

    model, recorder = make(), Recorder()
    model.learn(8 * 4 * 2, callback=[Ours(), recorder, lambda stats: None])
    assert len(calls) == len(model.history) and recorder.n_calls >= len(model.history)
