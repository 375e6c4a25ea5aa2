"""Baseline agents and the Agent protocol."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import textgym  # noqa: F401
from agents import Agent, RandomAgent, ReferenceAgent
from textgym.error import InvalidArgumentError


def test_every_kind_of_agent_plays_the_same_evaluation_through_the_protocol():
    """Ours, a bare policy and a stock SB3 model: each is an Agent, answers one in-range token per row of a batch
    of numpy observations, and plays the one evaluation loop to the scores its kind must get."""
    from stable_baselines3 import PPO as SB3PPO

    from agents import GreedyAgent
    from agents.evaluation import evaluate
    from agents.policy import TransformerPolicy
    from agents.ppo import PPO
    from agents.sb3_policy import TransformerActorCriticPolicy
    from textgym.vector import SB3VecEnv

    kw = {"num_examples": {"train": 20, "validation": 6, "test": 6}, "max_new_tokens": 16, "difficulty": 1,
          "split": "test"}
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=4, autoreset_mode="Disabled", **kw)
    torch.manual_seed(0)
    policy = TransformerPolicy("tiny", envs.vocab_size, max_positions=96, eos_token_id=envs.eos_token_id).eval()
    sb3 = SB3PPO(TransformerActorCriticPolicy, SB3VecEnv(gym.make_vec("TextGen-Translate-v0", num_envs=2, **kw)),
                 n_steps=4, batch_size=4, seed=0)
    agents = {"random": RandomAgent(envs.single_action_space, seed=0), "reference": ReferenceAgent(envs),
              "greedy": GreedyAgent(policy, envs.max_prompt_tokens), "ppo": PPO(policy, envs, batch_size=4, seed=0),
              "sb3": sb3}
    results = {}
    for name, agent in agents.items():
        assert isinstance(agent, Agent), name
        obs, _ = envs.reset(seed=0)
        actions, _ = agent.predict({k: v.numpy() for k, v in obs.items()}, deterministic=True)
        actions = np.asarray(actions)
        assert actions.shape == (4,) and ((actions >= 0) & (actions < envs.vocab_size)).all(), name
        results[name] = evaluate(agent, envs, "all")
        assert results[name].episodes == 6 and 0.0 <= results[name].mean_reward <= 1.0, name
    assert results["reference"].mean_reward == 1.0 and results["random"].mean_reward < 0.3
    # the greedy agent and our PPO model decode the same weights the same way, and so does the bare policy
    assert results["greedy"].rewards == results["ppo"].rewards == evaluate(policy, envs, "all").rewards


def test_random_agent_is_seeded_and_in_range():
    space = gym.spaces.Discrete(50)
    a, b = RandomAgent(space, seed=3), RandomAgent(space, seed=3)
    draws = [int(a.predict({})[0]) for _ in range(200)]
    assert draws == [int(b.predict({})[0]) for _ in range(200)]
    assert min(draws) >= 0 and max(draws) < 50 and len(set(draws)) > 30


def test_reference_agent_follows_the_observation_position():
    env = gym.make("TextGen-Translate-v0")
    agent = ReferenceAgent(env)
    obs, _ = env.reset(seed=2)
    ref = env.unwrapped.reference_actions()
    assert agent.predict(obs)[0] == ref[0]
    obs, *_ = env.step(ref[0])
    obs, *_ = env.step(ref[1])
    assert agent.predict(obs)[0] == ref[2]


def test_batched_random_and_reference_agents_on_the_vector_env():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=4, autoreset_mode="Disabled", split="test")
    obs, _ = envs.reset(options={"example_index": [0, 1, 2, 3]})
    draws, _ = RandomAgent(envs.single_action_space, seed=0).predict({k: v.numpy() for k, v in obs.items()})
    assert draws.shape == (4,) and ((draws >= 0) & (draws < envs.vocab_size)).all()
    agent, scores = ReferenceAgent(envs), torch.zeros(4)
    single = gym.make("TextGen-Translate-v0", split="test")
    expected = []
    for i in range(4):
        single.reset(options={"example_index": i})
        expected.append(single.unwrapped.reference_actions())
    played = [[] for _ in range(4)]
    while True:
        actions, _ = agent.predict(obs)
        for row, action in enumerate(actions):
            if len(played[row]) < len(expected[row]):
                played[row].append(int(action))
        obs, _, terminated, _, info = envs.step(actions)
        if "final_info" in info:
            scores = torch.where(info["_final_info"], info["final_info"]["score"], scores)
        if terminated.all():
            break
    assert played == expected  # tokens then EOS, row by row
    assert scores.tolist() == [1.0] * 4


def test_bad_agent_arguments():
    with pytest.raises(InvalidArgumentError, match=r"RandomAgent needs a Discrete action space, got Box"):
        RandomAgent(gym.spaces.Box(0, 1, (2,), np.float32))
    with pytest.raises(InvalidArgumentError, match=r"ReferenceAgent needs a textgym env .* got CartPoleEnv"):
        ReferenceAgent(gym.make("CartPole-v1"))


def test_greedy_agent_follows_the_model_argmax():
    import torch

    from agents import GreedyAgent
    from agents.policy import TransformerPolicy

    env = gym.make("TextGen-Translate-v0", max_new_tokens=8)
    torch.manual_seed(0)
    policy = TransformerPolicy("tiny", env.action_space.n, max_positions=96).eval()
    agent = GreedyAgent(policy)
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs)
    P = env.unwrapped.max_prompt_tokens
    with torch.no_grad():
        logits = policy(torch.as_tensor(obs["input_ids"])[None], torch.as_tensor(obs["attention_mask"])[None]).logits
    assert action == int(logits[0, P - 1].argmax())  # before any token: predicted from the prompt's last token
    obs, *_ = env.step(action)
    assert agent.predict(obs)[0] == agent.predict({k: v[None] for k, v in obs.items()})[0][0]
    assert isinstance(agent, Agent)


@pytest.mark.parametrize("mode", ["Disabled", "SameStep"])
def test_cached_greedy_decoding_equals_full_forward_decoding(mode):
    from agents import GreedyAgent
    from agents.policy import TransformerPolicy

    envs = [gym.make_vec("TextGen-Translate-v0", num_envs=6, autoreset_mode=mode, max_new_tokens=12,
                         num_examples={"train": 60, "validation": 20, "test": 20}) for _ in "ab"]
    torch.manual_seed(1)
    policy = TransformerPolicy("tiny", envs[0].vocab_size, max_positions=96, eos_token_id=envs[0].eos_token_id).eval()
    cached = GreedyAgent(policy, max_prompt_tokens=envs[0].max_prompt_tokens)
    plain = GreedyAgent(policy)
    observations = [env.reset(seed=3)[0] for env in envs]
    decoded = 0
    for _ in range(30):  # SameStep: rows finish and restart at different steps (the cache falls back, then resumes)
        (a, _), (b, _) = cached.predict(observations[0]), plain.predict(observations[1])
        assert np.array_equal(a, b)
        decoded += cached._state is not None
        observations = [env.step(torch.as_tensor(a))[0] for env in envs]
    assert decoded > 5  # the cache was in use


def test_agents_play_an_env_with_no_task_behind_it():
    """The agents read only the observation layout (prompt cells, then response cells), so they serve any env with
    textgym's spaces: here one whose step rewards token 5 and ends at EOS (2) or the cap."""
    from agents import GreedyAgent
    from tests.fakes import GenericTextEnv, play, tiny_policy

    def step(env, action):
        position = env.max_prompt_tokens + env.generated
        env.input_ids[position], env.attention_mask[position] = int(action), 1
        env.generated += 1
        done = int(action) == 2 or env.generated == env.max_new_tokens
        return env.obs(), float(int(action) == 5), done, False, {"generated": env.generated}

    env = GenericTextEnv(vocab_size=16, step_func=step)
    rewards, actions, info, _ = play(env, RandomAgent(env.action_space, seed=0), seed=0)
    assert len(actions) == info["generated"] <= 4 and rewards == [float(a == 5) for a in actions]
    policy = tiny_policy(16, max_positions=8).eval()
    greedy = GreedyAgent(policy)
    _, greedy_actions, _, final = play(env, greedy, seed=0)
    assert play(env, greedy, seed=0)[1] == greedy_actions and final["attention_mask"].sum() == 1 + len(greedy_actions)
    first, _ = env.reset(seed=0)
    ids, mask = (torch.as_tensor(first[k])[None] for k in ("input_ids", "attention_mask"))
    with torch.no_grad():
        assert greedy_actions[0] == int(policy.next_token(ids, mask).logits.argmax())


def test_the_trainers_import_from_the_package_top():
    """The mission's own example, ``from agents import PPO``, works (lazily: ``import agents`` stays light)."""
    import subprocess
    import sys

    code = ("import sys, agents; light = 'transformers' not in sys.modules\n"
            "from agents import PPO, PPOConfig, SFT, SFTConfig\n"
            "from agents.ppo import PPO as P2\nfrom agents.sft import SFT as S2\n"
            "print(light, PPO is P2, SFT is S2, PPOConfig.__name__, SFTConfig.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "True", "PPOConfig", "SFTConfig"]
