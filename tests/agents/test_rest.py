"""ReST (reward-filtered self-training): the filter exactly, the interface PPO has, and learning on an easy task."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import textgym  # noqa: F401
from agents.rest import ReST, select
from agents.rollout import Rollout
from tests.fakes import easy_translation
from textgym.error import UnknownArgumentError

EOS = 2


def _rollout(tokens: list[list[int]], returns: list[float]) -> Rollout:
    """Finished episodes: each row's tokens up to its end (0 = nothing after), its whole return on the last one."""
    T = max(len(t) for t in tokens)
    ids = torch.tensor([t + [0] * (T - len(t)) for t in tokens])
    mask = torch.tensor([[1] * len(t) + [0] * (T - len(t)) for t in tokens])
    rewards = torch.zeros(len(tokens), T)
    for row, (t, r) in enumerate(zip(tokens, returns, strict=True)):
        rewards[row, len(t) - 1] = r
    N = len(tokens)
    return Rollout(torch.ones(N, 3, dtype=torch.long), torch.ones(N, 3, dtype=torch.long), ids, mask,
                   torch.zeros(N, T), torch.zeros(N, T), rewards)


def test_select_keeps_the_best_sample_only_where_it_beats_greedy_and_ended_by_itself():
    greedy = _rollout([[5, EOS], [5, EOS], [5, EOS], [5, EOS]], [0.5, 0.5, 0.5, 0.5])
    samples = [
        _rollout([[6, EOS], [6, EOS], [6, 6, 6], [6, EOS]], [0.7, 0.5, 0.9, 0.2]),
        _rollout([[7, 7, EOS], [7, EOS], [7, EOS], [7, EOS]], [0.6, 0.4, 0.8, 0.3]),
    ]
    keep, tokens, mask, best = select(greedy, samples, lambda t: t == EOS)
    # row 0: sample 0 (0.7) beats greedy; row 1: a tie with greedy is not kept; row 2: its best (0.9) was cut at
    # the length limit, and the runner-up is not a substitute; row 3: nothing beats greedy
    assert keep.tolist() == [True, False, False, False]
    assert best.tolist() == pytest.approx([0.7, 0.5, 0.9, 0.3])
    assert tokens[0].tolist() == [6, EOS, 0] and mask[0].tolist() == [1, 1, 0]
    assert tokens[2].tolist() == [6, 6, 6]


def _easy(seed: int = 0, **hyper):
    """PPO's learning-test task (tests.fakes.easy_translation) with ReST."""
    envs, scored, policy = easy_translation(seed)
    return ReST(policy, envs, seed=seed, batch_size=32, **hyper), scored


def test_only_kept_samples_train_the_model(monkeypatch):
    """An update that keeps nothing takes no step; one that keeps samples trains on exactly those (the loss is
    the kept samples' token cross-entropy, measured before the step)."""
    import agents.rest

    model, _ = _easy(seed=2)
    before = [p.detach().clone() for p in model.policy.parameters()]
    real_select = agents.rest.select
    monkeypatch.setattr(agents.rest, "select", lambda g, s, stop: (torch.zeros_like(g.returns, dtype=torch.bool),
                                                                    *real_select(g, s, stop)[1:]))
    stats = model._update()
    assert stats["train/kept_fraction"] == 0 and np.isnan(stats["train/loss"])
    assert all(torch.equal(b, p) for b, p in zip(before, model.policy.parameters(), strict=True))
    seen = []
    monkeypatch.setattr(agents.rest, "select", lambda g, s, stop: seen.append(real_select(g, s, stop)) or seen[-1])
    real_fine_tune = model._fine_tune
    trained = []
    model._fine_tune = lambda *batch: trained.append(batch) or real_fine_tune(*batch)  # type: ignore[method-assign]
    stats = model._update()
    keep, tokens, mask, _ = seen[0]
    assert stats["train/kept_fraction"] == keep.float().mean().item() > 0
    assert torch.equal(trained[0][2], tokens[keep]) and torch.equal(trained[0][3], mask[keep])
    assert any(not torch.equal(b, p) for b, p in zip(before, model.policy.parameters(), strict=True))


def test_rest_speaks_ppos_interface_and_refuses_what_it_does_not_read(tmp_path):
    model, _ = _easy(seed=1)
    assert model.reference is None  # no KL: no second copy of the weights
    calls = []
    model.learn(total_timesteps=10**9, callback=lambda stats: calls.append(stats) or len(calls) < 2)
    assert len(model.history) == 2 and model.num_timesteps == model.history[-1]["time/total_timesteps"] > 0
    model.save(tmp_path / "rest")
    loaded = ReST.load(tmp_path / "rest", env=model.env)
    assert type(loaded) is ReST
    for a, b in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    obs, _ = model.env.reset(seed=3)
    numpy_obs = {k: v.cpu().numpy() for k, v in obs.items()}
    assert np.array_equal(model.predict(numpy_obs, deterministic=True)[0],
                          loaded.predict(numpy_obs, deterministic=True)[0])
    with pytest.raises(UnknownArgumentError, match=r"ReST got keyword argument\(s\) \['clip_range'\] that it does "
                                                   r"not read. Accepted: .*'group_size'"):
        _easy(clip_range=0.1)
    with pytest.raises(TypeError):  # as Python does for an unknown keyword
        _easy(no_such_option=1)
