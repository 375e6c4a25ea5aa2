"""LoRA through peft and the weight dtype: what trains, the reference without a second copy, adapter-only saves."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
import torch

import textgym  # noqa: F401
from agents.policy import TransformerPolicy
from agents.ppo import PPO
from textgym.error import InvalidArgumentError, UnknownArgumentError

ENV = "TextGen-Translate-v0"
ENV_KWARGS = {"difficulty": 1, "max_new_tokens": 4, "num_examples": {"train": 20, "validation": 8}}
OPTIONS = {"num_envs": 8, "seed": 0, "batch_size": 8, "n_epochs": 2, "env_kwargs": ENV_KWARGS,
           "learning_rate": 1e-2}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A small GPT-2 with the env's vocabulary saved as a Hugging Face folder: a 'pretrained' model on disk."""
    from transformers import GPT2Config, GPT2LMHeadModel

    env = gym.make(ENV, **ENV_KWARGS).unwrapped
    torch.manual_seed(1)
    config = GPT2Config(vocab_size=env.vocab_size, n_positions=128, n_layer=2, n_head=2, n_embd=64,
                        eos_token_id=env.eos_token_id, pad_token_id=env.pad_token_id)
    folder = tmp_path_factory.mktemp("pretrained")
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def _base_weights(model):
    return {n: p.detach().clone() for n, p in model.policy.named_parameters() if "lora_" not in n
            and not n.startswith("value_head")}


def test_lora_trains_only_adapters_and_the_value_head_against_the_base_as_reference(pretrained):
    model = PPO(str(pretrained), ENV, lora=True, **OPTIONS)
    assert model.policy.has_adapters and model.reference is None  # the reference is the same model, adapters off
    trained = {id(p) for group in model.optimizer.param_groups for p in group["params"]}
    names = [n for n, p in model.policy.named_parameters() if id(p) in trained]
    assert names and all("lora_" in n or n.startswith("value_head") for n in names)
    base = _base_weights(model)
    model.learn(8 * 4 * 3)
    assert model.history[0]["train/kl_to_ref"] == 0.0  # B = 0 at the start: the adapted model is the base
    assert model.history[-1]["train/kl_to_ref"] != 0  # the adapters moved it; the KL (an estimate) sees it
    for name, weight in _base_weights(model).items():
        assert torch.equal(weight, base[name]), f"{name} changed: the base must stay frozen"
    # the reference's log-probs are exactly the untouched base model's
    fresh = TransformerPolicy(str(pretrained), model.env.vocab_size).eval()
    ids = torch.randint(4, model.env.vocab_size, (2, 9))
    mask = torch.ones_like(ids)
    with model.policy.adapters_disabled():
        torch.testing.assert_close(model.policy(ids, mask).logits, fresh(ids, mask).logits)
    assert not torch.allclose(model.policy(ids, mask).logits, fresh(ids, mask).logits)


def _greedy(model, seed=3):
    envs = gym.make_vec(ENV, num_envs=4, autoreset_mode="Disabled", split="validation", **ENV_KWARGS)
    obs, _ = envs.reset(seed=seed)
    return model.predict(obs, deterministic=True)[0]


def test_a_lora_checkpoint_holds_only_what_trained_and_loads_back(pretrained, tmp_path):
    model = PPO(str(pretrained), ENV, lora={"r": 4, "lora_alpha": 8}, **OPTIONS)
    model.learn(8 * 4 * 2)
    model.save(tmp_path / "run")
    files = {p.relative_to(tmp_path / "run").as_posix() for p in (tmp_path / "run").rglob("*") if p.is_file()}
    assert files == {"config.json", "optimizer.pt", "value_head.safetensors", "adapter/adapter_config.json",
                     "adapter/adapter_model.safetensors", "adapter/README.md"}  # peft's folder, with its model card
    adapter_bytes = (tmp_path / "run" / "adapter" / "adapter_model.safetensors").stat().st_size
    base_bytes = (pretrained / "model.safetensors").stat().st_size
    assert adapter_bytes < base_bytes / 5
    loaded = PPO.load(tmp_path / "run")
    assert loaded.policy.lm.peft_config["default"].r == 4 and loaded.reference is None
    for (name, p), q in zip(model.policy.state_dict().items(), loaded.policy.state_dict().values(), strict=True):
        assert torch.equal(p, q), name
    assert (_greedy(model) == _greedy(loaded)).all()
    torch.testing.assert_close(loaded.optimizer.state_dict()["state"], model.optimizer.state_dict()["state"])
    # peft reads the adapter folder on its own, on the same base
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(pretrained)
    peft_model = PeftModel.from_pretrained(base, tmp_path / "run" / "adapter")
    ids = torch.randint(4, model.env.vocab_size, (1, 7))
    torch.testing.assert_close(peft_model.eval()(ids).logits, model.policy.lm.eval()(ids).logits)


def test_a_changed_base_is_refused_on_load(pretrained, tmp_path):
    from transformers import AutoModelForCausalLM

    model = PPO(str(pretrained), ENV, lora=True, **OPTIONS)
    model.save(tmp_path / "run")
    other = tmp_path / "other"
    lm = AutoModelForCausalLM.from_pretrained(pretrained)
    with torch.no_grad():
        lm.get_input_embeddings().weight.add_(0.01)
    lm.save_pretrained(other)
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    (tmp_path / "run" / "config.json").write_text(json.dumps({**meta, "base_model": str(other)}))
    with pytest.raises(InvalidArgumentError, match=r"is not the one the adapters .* were trained on"):
        PPO.load(tmp_path / "run")


def test_lora_on_a_named_config_saves_the_whole_policy(tmp_path):
    """A fresh 'tiny' model exists nowhere else: its checkpoint keeps the base, and loads back exactly."""
    model = PPO("tiny", ENV, lora=True, **OPTIONS)
    model.learn(8 * 4)
    model.save(tmp_path / "run")
    assert (tmp_path / "run" / "policy.safetensors").is_file()
    loaded = PPO.load(tmp_path / "run")
    assert loaded.policy.has_adapters
    for p, q in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values(), strict=True):
        assert torch.equal(p, q)


def test_bf16_weights_train_and_round_trip(pretrained, tmp_path):
    model = PPO(str(pretrained), ENV, lora=True, dtype="bfloat16", **OPTIONS)
    dtypes = {n: p.dtype for n, p in model.policy.named_parameters()}
    assert {d for n, d in dtypes.items() if "lora_" in n or n.startswith("value_head")} == {torch.float32}
    assert {d for n, d in dtypes.items() if "lora_" not in n and not n.startswith("value_head")} == {torch.bfloat16}
    model.learn(8 * 4 * 2)
    assert all(torch.isfinite(torch.tensor(v)) for k, v in model.history[-1].items() if k.startswith("train/")
               and k != "train/value_loss") and model.history[-1]["train/kl_to_ref"] != 0
    model.save(tmp_path / "run")
    loaded = PPO.load(tmp_path / "run")
    assert next(loaded.policy.base_model.parameters()).dtype == torch.bfloat16
    assert (_greedy(model) == _greedy(loaded)).all()
    full = PPO("tiny", ENV, dtype="bfloat16", **OPTIONS)  # full fine-tuning in bf16 weights too
    assert next(full.policy.lm.parameters()).dtype == torch.bfloat16 and full.reference is not None
    full.learn(8 * 4)


def test_bad_lora_and_dtype_arguments(pretrained):
    with pytest.raises(InvalidArgumentError, match=r"Expected lora to be None, True, a dict .* got 'yes' \(str\)"):
        PPO("tiny", ENV, lora="yes", **OPTIONS)
    with pytest.raises(UnknownArgumentError, match=r"lora=\{'rank': 4\}: .*rank.*Accepted: the fields of peft"):
        PPO("tiny", ENV, lora={"rank": 4}, **OPTIONS)
    with pytest.raises(TypeError):  # an unknown field is a TypeError, as Python's own
        PPO("tiny", ENV, lora={"rank": 4}, **OPTIONS)
    with pytest.raises(InvalidArgumentError, match=r"Unknown dtype 'half'. Accepted: None .*'bfloat16'"):
        PPO("tiny", ENV, dtype="half", **OPTIONS)
    policy = TransformerPolicy("tiny", gym.make(ENV).unwrapped.vocab_size)
    with pytest.raises(InvalidArgumentError, match=r"pass them to TransformerPolicy\(...\) instead"):
        PPO(policy, ENV, lora=True, **OPTIONS)
    with pytest.raises(InvalidArgumentError, match=r"adapters_disabled\(\) needs a policy built with lora"), \
            policy.adapters_disabled():
        pass
