"""Contract and behaviour of TextGenEnv on the built-in translation task."""

from __future__ import annotations

import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from sacrebleu.metrics import BLEU, CHRF, TER
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import textgym  # noqa: F401 - registers the ids
from agents import RandomAgent, ReferenceAgent
from tests.fakes import play
from textgym.envs.text_gen_env import TextGenEnv
from textgym.error import InvalidActionError, InvalidArgumentError, ResetNeededError, TextGymError

ENV_ID = "TextGen-Translate-v0"


@pytest.fixture(scope="module")
def env():
    return gym.make(ENV_ID)


def test_gymnasium_check_env(env):
    gym_check_env(env.unwrapped, skip_render_check=False)


def test_sb3_check_env(env):
    sb3_check_env(env.unwrapped, warn=True)


def test_spaces_and_reset_layout(env):
    u = env.unwrapped
    P, T = u.max_prompt_tokens, u.max_new_tokens
    assert env.action_space == gym.spaces.Discrete(len(u.tokenizer))
    assert set(env.observation_space.spaces) == {"input_ids", "attention_mask"}
    obs, info = env.reset(seed=3)
    assert obs["input_ids"].dtype == np.int64 and obs["input_ids"].shape == (P + T,)
    mask = obs["attention_mask"]
    # prompt left-padded: zeros then ones up to P, nothing generated yet
    n_prompt = int(mask[:P].sum())
    assert n_prompt > 0 and mask[: P - n_prompt].sum() == 0 and mask[P - n_prompt : P].all()
    assert mask[P:].sum() == 0 and (obs["input_ids"][P:] == u.pad_token_id).all()
    assert obs["input_ids"][P - n_prompt] == u.tokenizer.bos_token_id
    prompt = u.tokenizer.decode(obs["input_ids"][P - n_prompt : P], skip_special_tokens=True)
    assert prompt == info["prompt"] == u.example.prompt
    obs, *_ = env.step(5)
    assert obs["input_ids"][P] == 5 and obs["attention_mask"][P] == 1 and obs["attention_mask"][P + 1 :].sum() == 0
    assert env.unwrapped.tokenizer is u.tokenizer and env.unwrapped.task.name == "translate"


def test_same_seed_same_episode_different_seed_differs(env):
    agent_a, agent_b = RandomAgent(env.action_space, seed=1), RandomAgent(env.action_space, seed=1)
    env_b = gym.make(ENV_ID)
    for seed in (0, 1, 2):
        obs_a, info_a = env.reset(seed=seed)
        obs_b, info_b = env_b.reset(seed=seed)
        assert info_a == info_b
        np.testing.assert_array_equal(obs_a["input_ids"], obs_b["input_ids"])
        while True:
            (action_a, _), (action_b, _) = agent_a.predict(obs_a), agent_b.predict(obs_b)
            obs_a, r_a, term_a, _, info_a = env.step(action_a)
            obs_b, r_b, term_b, _, info_b = env_b.step(action_b)
            np.testing.assert_array_equal(obs_a["input_ids"], obs_b["input_ids"])
            assert (r_a, term_a, info_a) == (r_b, term_b, info_b)
            if term_a:
                break
    prompts = {env.reset(seed=s)[1]["prompt"] for s in range(10)}
    assert len(prompts) > 5, "different seeds must draw different examples"


def test_reference_agent_scores_one(env):
    agent = ReferenceAgent(env)
    for seed in range(20):
        rewards, actions, info, _ = play(env, agent, seed=seed)
        assert info["score"] == 1.0 and rewards[-1] == 1.0 and sum(rewards[:-1]) == 0.0
        assert info["response"] == info["references"][0]
        assert actions[-1] == env.unwrapped.eos_token_id
        assert all(v == 1.0 for v in info["metrics"].values())


def test_random_agent_scores_low():
    env = gym.make(ENV_ID)
    agent = RandomAgent(env.action_space, seed=0)
    scores = [play(env, agent, seed=seed)[2]["score"] for seed in range(100)]
    assert np.mean(scores) < 0.25
    assert max(scores) > 0.0  # the scorer does respond to random text (chrF counts character n-grams)


@pytest.mark.parametrize("metric", ["bleu", "chrf", "chrf++", "ter"])
def test_terminal_reward_is_sacrebleu_sentence_score(metric):
    env = gym.make(ENV_ID, scorer=metric, difficulty=3)
    own = {"bleu": BLEU(effective_order=True), "chrf": CHRF(), "chrf++": CHRF(word_order=2), "ter": TER()}[metric]
    rng = np.random.default_rng(0)
    for seed in range(6):
        env.reset(seed=seed)
        # half the reference then a few random tokens: a partly right answer, so scores are strictly inside (0, 1)
        ref = env.unwrapped.reference_actions()[:-1]
        actions = ref[: len(ref) // 2] + rng.integers(300, env.action_space.n, size=seed % 3).tolist()
        actions.append(env.unwrapped.eos_token_id)
        for a in actions:
            _, reward, terminated, _, info = env.step(a)
        assert terminated
        raw = own.sentence_score(info["response"], info["references"]).score
        expected = min(max(1 - raw / 100 if metric == "ter" else raw / 100, 0.0), 1.0)
        assert reward == pytest.approx(expected, abs=1e-12)
        assert info["metrics"][metric] == reward == info["score"]
        assert 0.0 <= reward < 1.0


def test_dense_return_equals_sparse_terminal_reward():
    sparse, dense = gym.make(ENV_ID, difficulty=2), gym.make(ENV_ID, difficulty=2, reward_mode="dense")
    rng = np.random.default_rng(1)
    for seed in range(5):
        sparse.reset(seed=seed)
        dense.reset(seed=seed)
        ref = sparse.unwrapped.reference_actions()
        actions = ref[:-3] + rng.integers(300, sparse.action_space.n, size=2).tolist() + ref[-1:]
        dense_rewards = []
        for a in actions:
            _, r_sparse, term, _, _ = sparse.step(a)
            _, r_dense, _, _, _ = dense.step(a)
            dense_rewards.append(r_dense)
        assert term
        assert sum(dense_rewards) == pytest.approx(r_sparse, abs=1e-9)
        assert any(r != 0 for r in dense_rewards[:-1]), "dense mode pays before the end"


def test_length_cap_terminates_and_is_scored():
    env = gym.make(ENV_ID, max_new_tokens=3)
    env.reset(seed=0)
    ref = env.unwrapped.reference_actions()
    for i in range(3):
        _, _, terminated, truncated, info = env.step(ref[i])
        assert terminated == (i == 2) and not truncated
    assert 0 < info["score"] < 1 and info["num_tokens"] == 3


def test_time_limit_truncation_is_unscored_and_max_new_tokens_is_the_scored_cap():
    """What the docstring says about ``max_episode_steps``: Gymnasium's TimeLimit truncates outside the env (reward
    0, empty info: the env never saw the limit); ``max_new_tokens`` is the cap that scores the response."""
    limited, capped = gym.make(ENV_ID, max_episode_steps=3), gym.make(ENV_ID, max_new_tokens=3)
    limited.reset(seed=0)
    capped.reset(seed=0)
    for action in limited.unwrapped.reference_actions()[:3]:
        limited_step, capped_step = limited.step(action), capped.step(action)
    assert limited_step[1:] == (0.0, False, True, {})
    assert capped_step[2:4] == (True, False) and capped_step[1] == capped_step[4]["score"] > 0
    assert capped_step[4]["response"] == limited.unwrapped.response()


def test_pickle_round_trip(env):
    env.reset(seed=4)
    env.step(10)
    clone = pickle.loads(pickle.dumps(env))
    actions = [11, 12, env.unwrapped.eos_token_id]
    out_a = [env.step(a) for a in actions]
    out_b = [clone.step(a) for a in actions]
    for (oa, ra, ta, _, ia), (ob, rb, tb, _, ib) in zip(out_a, out_b, strict=True):
        np.testing.assert_array_equal(oa["input_ids"], ob["input_ids"])
        assert (ra, ta, ia) == (rb, tb, ib)
    assert clone.reset(seed=9)[1] == env.reset(seed=9)[1]


def test_render_modes(capsys):
    env = gym.make(ENV_ID, render_mode="ansi")
    env.reset(seed=0)
    for a in env.unwrapped.reference_actions()[:2]:
        env.step(a)
    text = env.render()
    assert text.startswith(env.unwrapped.example.prompt) and text.endswith(env.unwrapped.response())
    human = gym.make(ENV_ID, render_mode="human")
    human.reset(seed=0)
    assert human.render() is None
    assert "Translate English to German" in capsys.readouterr().out


def test_example_index_option_and_splits():
    env = gym.make(ENV_ID, split="test")
    _, info = env.reset(options={"example_index": 7})
    assert info["example_id"] == "test/7"
    train = gym.make(ENV_ID)
    test_prompts = {env.reset(options={"example_index": i})[1]["prompt"] for i in range(50)}
    train_prompts = {train.reset(options={"example_index": i})[1]["prompt"] for i in range(500)}
    assert not test_prompts & train_prompts


def test_kwargs_reach_the_task():
    env = gym.make(ENV_ID, target_lang="fr", difficulty=4, scorer="bleu")
    task = env.unwrapped.task
    assert (task.target_lang, task.difficulty, task.scorer.name) == ("fr", 4, "bleu")
    assert env.reset(seed=0)[1]["prompt"].startswith("Translate English to French:")


# -- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (-1, r"Token id -1 is out of range.*Discrete\(2048\).*0\.\.2047"),
        (2048, r"Token id 2048 is out of range"),
        (3.0, r"Expected an integer token id in \[0, 2048\), got 3\.0 \(float\)"),
        (np.float32(2), r"got np.float32\(2.0\) \(float32\)"),
        (np.array([1, 2]), r"got an array of shape \(2,\)"),
        (np.array([[1]]), r"got an array of shape \(1, 1\)"),
        (True, r"got True \(bool\)"),
        ("5", r"got '5' \(str\)"),
        (None, r"got None \(NoneType\)"),
    ],
)
def test_bad_actions(env, action, match):
    env.reset(seed=0)
    with pytest.raises(InvalidActionError, match=match):
        env.step(action)


def test_numpy_integer_actions_accepted(env):
    env.reset(seed=0)
    env.step(np.int64(7))
    env.step(np.array(8))
    obs, *_ = env.step(np.uint16(9))
    P = env.unwrapped.max_prompt_tokens
    assert obs["input_ids"][P : P + 3].tolist() == [7, 8, 9]


def test_step_before_reset_and_after_end():
    env = gym.make(ENV_ID)
    with pytest.raises(ResetNeededError, match=r"before reset\(\)"):
        env.step(0)
    env.reset(seed=0)
    env.step(env.unwrapped.eos_token_id)
    with pytest.raises(ResetNeededError, match=r"episode has ended.*call reset\(\)"):
        env.step(0)
    assert isinstance(ResetNeededError(), (TextGymError, gym.error.ResetNeeded))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"reward_mode": "dens"}, r"Unknown reward_mode 'dens'. Did you mean 'dense'\?"),
        ({"render_mode": "rgb_array"}, r"Unknown render_mode 'rgb_array'.*'ansi', 'human'"),
        ({"max_new_tokens": 0}, r"Expected max_new_tokens to be a positive int, got 0 \(int\)"),
        ({"max_prompt_tokens": 2.5}, r"Expected max_prompt_tokens to be a positive int, got 2.5 \(float\)"),
        ({"split": "valid"}, r"Unknown split 'valid' \(str\). Did you mean 'validation'\?"),
        ({"difficulty": 9}, r"Expected difficulty to be an int in 1..5, got 9"),
        ({"target_lang": "es"}, r"Unknown target_lang 'es'.*'de', 'en', 'fr'"),
        ({"source_lang": "de", "target_lang": "de"}, r"both 'de'"),
        ({"targt_lang": "fr"}, r"Task 'translate' got an unexpected keyword argument 'targt_lang'. Did you mean"),
        ({"task": "translation"}, r"Unknown task 'translation'. Did you mean 'translate'\?"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(TextGymError, match=match):
        TextGenEnv(**kwargs)


def test_bad_reset_options(env):
    with pytest.raises(InvalidArgumentError, match=r"example_index'\] to be an int in \[0, 20000\).*got -1"):
        env.reset(options={"example_index": -1})
    with pytest.raises(InvalidArgumentError, match=r"Unknown reset option\(s\) \['index'\]"):
        env.reset(options={"index": 1})


def test_long_prompt_is_truncated_with_a_warning():
    env = gym.make(ENV_ID, max_prompt_tokens=8)
    with pytest.warns(UserWarning, match=r"keeping the last 8"):
        obs, _ = env.reset(seed=0)
    assert obs["attention_mask"][:8].all()


CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant\n{% endif %}")


def test_chat_prompt_format_uses_the_tokenizer_template_and_places_bos_once():
    import copy

    small = {"num_examples": {"train": 40}}  # the vector env templates its whole split up front
    plain = gym.make(ENV_ID, **small).unwrapped
    tokenizer = copy.deepcopy(plain.tokenizer)
    tokenizer.chat_template = CHAT_TEMPLATE  # an instruct model's tokenizer carries one
    chat = gym.make(ENV_ID, tokenizer=tokenizer, prompt_format="chat", system_prompt="You translate.",
                    **small).unwrapped
    example = chat.task.examples("train")[0]
    messages = [{"role": "system", "content": "You translate."},
                {"role": "user", "content": example.prompt.rstrip("\n")}]
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"]
    got = chat.episode.prompt_ids(example).tolist()
    assert got == expected and got.count(tokenizer.bos_token_id) == 3  # one per turn, from the template only
    assert plain.episode.prompt_ids(example).tolist()[0] == tokenizer.bos_token_id
    obs, _ = chat.reset(seed=0, options={"example_index": 0})
    P = chat.max_prompt_tokens
    assert obs["input_ids"][P - len(got):P].tolist() == got
    assert tokenizer.decode(got).endswith("<s>assistant\n")
    vector = gym.make_vec(ENV_ID, num_envs=2, tokenizer=tokenizer, prompt_format="chat", system_prompt="You translate.",
                          **small)
    vector_obs, _ = vector.reset(options={"example_index": np.array([0, 0])})
    assert vector_obs["input_ids"][0].tolist() == obs["input_ids"].tolist()  # one Episode: the same prompt


def test_bad_prompt_formats():
    with pytest.raises(InvalidArgumentError, match=r"Unknown prompt_format 'chatml'. Did you mean 'chat'\?"):
        TextGenEnv(prompt_format="chatml")
    with pytest.raises(TextGymError, match=r"prompt_format='chat' needs a tokenizer with a chat template"):
        TextGenEnv(prompt_format="chat")  # the default BPE tokenizer has none
    with pytest.raises(InvalidArgumentError, match=r"system_prompt='x' needs prompt_format='chat'"):
        TextGenEnv(system_prompt="x")


def test_stop_token_ids_end_episodes_like_eos_in_both_envs():
    """An instruct model's end of turn (here the tokenizer's <unk>, a special token) ends the episode as EOS does:
    the response stops there (the token is dropped by decoding), is scored, and the vector env agrees."""
    small = {"num_examples": {"train": 40}}  # the vector env tokenizes its whole split up front
    plain = gym.make(ENV_ID, **small).unwrapped
    unk = plain.tokenizer.unk_token_id
    env = gym.make(ENV_ID, stop_token_ids=[unk], **small).unwrapped
    assert env.episode.stop_token_ids == (env.eos_token_id, unk) and env.action_masks()[unk]
    assert not plain.action_masks()[unk]  # a special token is masked unless it ends the episode
    for e in (env, plain):
        e.reset(seed=0, options={"example_index": 3})
    ref = env.reference_actions()[:-1]  # the reference without EOS, then <unk> as the end of the turn
    for token in ref:
        assert not env.step(token)[2]
    _, reward, terminated, _, info = env.step(unk)
    for token in env.reference_actions():
        _, plain_reward, _, _, plain_info = plain.step(token)
    assert terminated and info["response"] == plain_info["response"] and reward == plain_reward == 1.0
    vector = gym.make_vec(ENV_ID, num_envs=2, stop_token_ids=[unk], reward="token_bleu", info_metrics=True,
                          scoring_workers=0, **small)
    vector.reset(seed=0, options={"example_index": np.array([3, 3])})
    for token in ref:
        assert not vector.step(np.array([token, token]))[2].any()
    _, rewards, ended, _, infos = vector.step(np.array([unk, env.eos_token_id]))
    assert ended.all() and rewards.tolist() == [1.0, 1.0]  # token BLEU leaves the stop id out, as it does EOS
    assert list(infos["final_info"]["response"]) == [info["response"]] * 2


def test_chat_stop_ids_come_from_the_models_generation_config(tmp_path):
    import json

    tokenizer = gym.make(ENV_ID).unwrapped.tokenizer
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(tmp_path)
    eos, unk = tokenizer.eos_token_id, tokenizer.unk_token_id
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [eos, unk]}))
    chat = gym.make(ENV_ID, tokenizer=str(tmp_path), prompt_format="chat").unwrapped
    assert chat.episode.stop_token_ids == (eos, unk)
    assert gym.make(ENV_ID, tokenizer=str(tmp_path)).unwrapped.episode.stop_token_ids == (eos,)  # plain: EOS only
    with pytest.raises(InvalidArgumentError, match=r"stop_token_ids: 7 is not a special token id of the tokenizer"):
        gym.make(ENV_ID, stop_token_ids=[7])
    with pytest.raises(InvalidArgumentError, match=r"Expected stop_token_ids to be a list of token ids, got '</s>'"):
        gym.make(ENV_ID, stop_token_ids="</s>")
