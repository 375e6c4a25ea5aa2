"""PPO checkpoints: what :meth:`PPO.save <agents.ppo.ppo.PPO.save>` writes and :meth:`PPO.load` reads.

A folder: ``config.json`` (the config, the env, the LM's config, dtype, LoRA, world size), the trained weights as
safetensors, and ``optimizer.pt`` (Adam's state, the sampling and minibatch generators, the env's per-row seeds and
episode counters, so a resumed run draws what an uninterrupted one would have drawn).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from textgym.error import InvalidArgumentError

if TYPE_CHECKING:
    from agents.ppo.ppo import PPO

__all__ = ["load_checkpoint", "save_checkpoint"]


def save_checkpoint(model: PPO, path: str | os.PathLike[str]) -> None:
    """Write ``model`` to the folder ``path``: which weight files, with and without LoRA, is :meth:`PPO.save`'s."""
    from safetensors.torch import save_file, save_model

    if not model.parallel.is_main:  # under torchrun rank 0 writes; every rank holds the same weights
        return
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    policy, source = model.policy, _base_source(model)
    meta = {"config": asdict(model.config), "env_id": model.env_id, "env_kwargs": model.env_kwargs,
            "num_envs": model.env.num_envs, "num_timesteps": model.num_timesteps, "kl_coef": model.kl_coef,
            "lm_config": policy.base_model.config.to_dict(), "dtype": policy.dtype_name,
            "lora": policy.has_adapters, "base_model": source, "world_size": model.parallel.world_size,
            "base_fingerprint": _fingerprint(policy.base_model) if source else None}
    (folder / "config.json").write_text(json.dumps(meta, indent=2, default=str))
    if policy.has_adapters:
        if source:  # peft's adapter folder (config + weights), and the value head
            policy.lm.save_pretrained(str(folder / "adapter"))
            save_file({k: v.contiguous() for k, v in policy.value_head.state_dict().items()},
                      str(folder / "value_head.safetensors"))
        else:
            policy.lm.peft_config["default"].save_pretrained(str(folder / "adapter"))
    if not (policy.has_adapters and source):
        # save_model handles the LM's tied input/output embeddings (shared tensors)
        save_model(policy, str(folder / "policy.safetensors"))
    if model.reference is not None:
        save_model(model.reference, str(folder / "reference.safetensors"))
    # with the env's per-row seeds and episode counters, a resumed run draws the examples an uninterrupted
    # one would have drawn
    torch.save({"optimizer": model.optimizer.state_dict(), "generator": model.generator.get_state(),
                "shuffle_generator": model.shuffle_generator.get_state(),
                "env_seeds": model.env.seeds.cpu(), "env_counters": model.env.counters.cpu(),
                "env_seeded": model._env_seeded}, folder / "optimizer.pt")


def _base_source(model: PPO) -> str | None:
    """Where the base LM can be re-loaded from (a name or folder), with LoRA only; None otherwise."""
    if not model.policy.has_adapters:
        return None
    return str(model.policy.base_model.config._name_or_path or "") or None


def load_checkpoint(cls: type[PPO], path: str | os.PathLike[str], env: Any = None, device: str = "cpu") -> PPO:
    """Rebuild a saved model (on ``env``, or on the env it was trained on when that was an id)."""
    from safetensors.torch import load_file, load_model
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = Path(path)
    if not (folder / "config.json").is_file():
        raise InvalidArgumentError(f"No saved PPO model in {str(folder)!r} (config.json is missing).")
    meta = json.loads((folder / "config.json").read_text())
    lora = _saved_lora(folder) if meta.get("lora") else None
    if meta.get("base_model"):  # LoRA on a named model: the base comes from there, the adapters from here
        lm: Any = meta["base_model"]
    else:
        lm_config = dict(meta["lm_config"])  # any architecture: its model_type picks the class
        lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(lm_config.pop("model_type"), **lm_config))
    env = env if env is not None else meta["env_id"]
    model = cls(lm, env, num_envs=meta["num_envs"], device=device, env_kwargs=meta["env_kwargs"], lora=lora,
                dtype=meta.get("dtype"), **meta["config"])  # init=None: the weights come from the files below
    if meta.get("base_model"):
        from peft import set_peft_model_state_dict

        if _fingerprint(model.policy.base_model) != meta["base_fingerprint"]:
            raise InvalidArgumentError(
                f"The base model {meta['base_model']!r} is not the one the adapters in {str(folder)!r} were "
                "trained on (its embeddings differ). Restore that model there, or pass the same weights.")
        set_peft_model_state_dict(model.policy.lm, load_file(str(folder / "adapter" / "adapter_model.safetensors")))
        model.policy.value_head.load_state_dict(load_file(str(folder / "value_head.safetensors")))
    else:
        load_model(model.policy, str(folder / "policy.safetensors"))
    if model.reference is not None:
        load_model(model.reference, str(folder / "reference.safetensors"))
    state = torch.load(folder / "optimizer.pt", weights_only=True)
    model.optimizer.load_state_dict(state["optimizer"])
    model.generator.set_state(state["generator"])
    model.shuffle_generator.set_state(state["shuffle_generator"])
    if state["env_seeded"] and model.env.num_envs == len(state["env_seeds"]):
        model.env.reset(seed=0)  # start the env, then put its draw state back
        model.env.seeds.copy_(state["env_seeds"])
        model.env.counters.copy_(state["env_counters"])
        model._env_seeded = True
    model.num_timesteps, model.kl_coef = meta["num_timesteps"], meta["kl_coef"]
    return model


def _saved_lora(folder: Path) -> Any:
    """The LoraConfig saved in ``folder/adapter`` (peft writes it for inference: it trains again here)."""
    from peft import LoraConfig

    config = LoraConfig.from_pretrained(str(folder / "adapter"))
    config.inference_mode = False
    return config


def _fingerprint(lm: Any) -> str:
    """A SHA-256 of the LM's input embeddings: tells a re-loaded base from another model of the same shape."""
    weight = lm.get_input_embeddings().weight.detach()
    return hashlib.sha256(weight.float().cpu().numpy().tobytes()).hexdigest()
