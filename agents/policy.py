"""TransformerPolicy: a Hugging Face causal LM and a value head in one module, with KV-cache stepping.

One ``nn.Module`` holds both, so one optimizer covers them (as TRL's ``PolicyAndValueWrapper``). It reads the
environments' observations directly: ``input_ids`` and ``attention_mask`` with the prompt left-padded and the
response right-padded. Positions come from the attention mask (``cumsum - 1``) in every path, so a full
teacher-forced forward and a prefill followed by cached one-token decodes give the same log-probabilities.

The LM may be a named from-scratch config (``"tiny"``, ``"small"``: GPT-2 architecture with the env's vocabulary,
sized for CPUs; ``"gpt2-small-random"``: GPT-2 small's 12 layers of 768, untrained, for GPU throughput), a
Hugging Face model name or local path, or a model instance. The env must use the model's tokenizer: a
:class:`VocabMismatchError` names both where the LM head is narrower than ``Discrete(V)``, wider by more than the
padding checkpoints add (1,024 rows), or the model's end-of-sequence id is not the env's. A slightly wider head is
cut to ``V`` logits.

``lora=`` wraps the LM in ``peft`` LoRA adapters (only they and the value head train); :meth:`adapters_disabled`
then gives the base model in the same module, which PPO uses as its KL reference instead of a second copy.
``dtype=`` sets the LM's weight dtype (``"bfloat16"`` halves its memory); the value head and LoRA weights stay fp32.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from textgym.error import (
    InvalidArgumentError,
    MissingDependencyError,
    TextGymError,
    UnknownArgumentError,
    UnknownNameError,
    check_int,
    suggest,
)
from textgym.memory import tune_malloc

__all__ = ["DTYPES", "LORA_DEFAULTS", "NAMED_CONFIGS", "PolicyOutput", "TransformerPolicy", "VocabMismatchError",
           "batch_observation", "distinct_rows", "fuse_activations", "lora_config", "use_cpu_attention"]

NAMED_CONFIGS: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 2, "n_head": 2, "n_embd": 64},
    "small": {"n_layer": 4, "n_head": 4, "n_embd": 128},
    "gpt2-small-random": {"n_layer": 12, "n_head": 12, "n_embd": 768},  # GPT-2 small's shape, fresh weights
}


DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# LoRA on every linear layer but the LM head (QLoRA's finding: all layers matter more than the rank), B = 0 at start
LORA_DEFAULTS: dict[str, Any] = {"r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "target_modules": "all-linear",
                                 "task_type": "CAUSAL_LM"}


def lora_config(lora: Any) -> Any:
    """A ``peft.LoraConfig`` from ``True`` (:data:`LORA_DEFAULTS`), a dict of its fields (over the defaults) or one.

    Raises:
        MissingDependencyError: peft is not installed.
        InvalidArgumentError: anything else, or a dict with a field LoraConfig does not have.
    """
    try:
        from peft import LoraConfig
    except ImportError as exc:
        raise MissingDependencyError("lora= needs the peft package: pip install peft (or the dev extra)") from exc
    if isinstance(lora, LoraConfig):
        return lora
    if lora is True or isinstance(lora, dict):
        options = {**LORA_DEFAULTS, **(lora if isinstance(lora, dict) else {})}
        try:
            return LoraConfig(**options)
        except TypeError as exc:
            raise UnknownArgumentError(f"lora={lora!r}: {exc}. Accepted: the fields of peft.LoraConfig.") from exc
    raise InvalidArgumentError(
        f"Expected lora to be None, True, a dict of peft.LoraConfig fields or a LoraConfig, got {lora!r} "
        f"({type(lora).__name__})."
    )


def fuse_activations(lm: nn.Module) -> int:
    """Swap GPT-2's tanh-GELU, written as five elementwise ops, for PyTorch's fused kernel of the same function.

    ``NewGELUActivation`` (GPT-2's ``gelu_new``) and ``FastGELUActivation`` compute
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`` op by op; ``F.gelu(x, approximate="tanh")`` computes it in one
    pass each way (agreeing to ~5e-7, float rounding), which made issue 14's 2x128 update ~10-25 % faster. The module
    holds no weights and the config is untouched, so checkpoints are unchanged. Returns how many were swapped.
    """
    from transformers.activations import FastGELUActivation, NewGELUActivation

    swapped = 0
    for module in list(lm.modules()):
        for name, child in list(module.named_children()):
            if type(child) in (NewGELUActivation, FastGELUActivation):
                setattr(module, name, nn.GELU(approximate="tanh"))
                swapped += 1
    return swapped


CPU_ATTENTION = "textgym_sdpa"  # the name under which transformers' registries hold the function below


def _cpu_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                   attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, Any]:
    """Transformers' SDPA attention, except for bf16/fp16 queries on a CPU: bf16 matmuls around a float32 softmax.

    PyTorch's CPU kernels are slow in bf16 at small shapes: at issue 14's (64 rows, 4 heads of 32, 79 positions,
    1 thread, forward and backward) its flash attention takes 65 ms in bf16 against 30 ms in float32, and its math
    backend upcasts to float32 (29 ms). Written out as two bf16 matmuls with the softmax in float32 (as
    transformers' eager attention does), it takes 16 ms. Masked scores are set to float32's lowest value, not
    ``-inf``, so a query row with nothing to attend to (a left pad) is finite. Position biases, soft-capping and
    attention outputs go to float32 SDPA instead; float32 passes and other devices are the stock SDPA.
    """
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if query.device.type != "cpu" or query.dtype not in (torch.bfloat16, torch.float16):
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    dropout, scaling, is_causal = kwargs.pop("dropout", 0.0), kwargs.pop("scaling", None), kwargs.pop("is_causal", None)
    if kwargs.get("position_bias") is not None or kwargs.get("softcap") is not None or kwargs.get("output_attentions"):
        if attention_mask is not None and attention_mask.is_floating_point():
            attention_mask = attention_mask.float()
        with torch.autocast("cpu", enabled=False):
            out, weights = sdpa_attention_forward(module, query.float(), key.float(), value.float(), attention_mask,
                                                  dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs)
        return out.to(query.dtype), weights
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    q_length, kv_length = query.shape[2], key.shape[2]
    # SDPA's rule, as transformers applies it: causal (aligned top left) only where no mask was built
    causal = q_length > 1 and attention_mask is None and (is_causal if is_causal is not None else
                                                          getattr(module, "is_causal", True))
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    with torch.autocast("cpu", enabled=False):
        scores = torch.matmul(query, key.transpose(-1, -2)).float().mul_(scale)
        lowest = torch.finfo(scores.dtype).min
        if causal:
            attention_mask = torch.ones(q_length, kv_length, dtype=torch.bool, device=query.device).tril()
        if attention_mask is not None and attention_mask.dtype == torch.bool:
            scores = scores.masked_fill(~attention_mask, lowest)
        elif attention_mask is not None:  # additive
            scores = scores.add_(attention_mask.float()).clamp_(min=lowest)
        weights = torch.softmax(scores, -1).to(query.dtype)
        if dropout > 0:
            weights = F.dropout(weights, dropout, training=True)
        out = torch.matmul(weights, value)
    return out.transpose(1, 2).contiguous(), None


def use_cpu_attention(lm: Any) -> bool:
    """Route an LM that uses transformers' ``"sdpa"`` attention through :func:`_cpu_attention`.

    Models on another implementation (eager, flash-attention, a custom one) are left as they are, as is every model
    on a transformers release without the attention registries (before 4.53). The config's
    saved form is unchanged (transformers does not write the implementation into ``config.json``). Returns whether
    the LM was switched.
    """
    try:  # transformers >= 4.53; on older releases the model keeps its attention
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return False
    config = getattr(lm, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa" or not hasattr(lm, "set_attn_implementation"):
        return False
    AttentionInterface.register(CPU_ATTENTION, _cpu_attention)
    AttentionMaskInterface.register(CPU_ATTENTION, sdpa_mask)
    lm.set_attn_implementation(CPU_ATTENTION)
    return True


def check_dtype(dtype: Any) -> torch.dtype | None:
    """``None`` (the model's own), a name in :data:`DTYPES` or one of those torch dtypes."""
    if dtype is None or (isinstance(dtype, torch.dtype) and dtype in DTYPES.values()):
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    raise InvalidArgumentError(f"Unknown dtype {dtype!r}. Accepted: None (the model's own), "
                               f"{', '.join(map(repr, DTYPES))}.")


class VocabMismatchError(TextGymError, ValueError):
    """The model's vocabulary does not cover the environment's token ids."""


# Hugging Face checkpoints round their embedding rows up past the tokenizer's length (Qwen2: 271 rows, phi-2:
# 905); more spare rows than this means the env's token ids are another tokenizer's.
MAX_SPARE_ROWS = 1024


def _check_vocabulary(lm: Any, vocab_size: int, eos_token_id: int | None) -> None:
    """Raise VocabMismatchError where the env's token ids cannot be the model's (the error names both)."""
    lm_vocab = lm.get_output_embeddings().weight.shape[0]
    model_eos = getattr(lm.config, "eos_token_id", None)
    model_eos = set(model_eos) if isinstance(model_eos, (list, tuple)) else {model_eos} - {None}
    model_eos = {e for e in model_eos if isinstance(e, int) and 0 <= e < lm_vocab}  # a default config's 50256: unset
    name = getattr(lm.config, "_name_or_path", "") or type(lm).__name__
    problem = ""
    if lm_vocab < vocab_size:
        problem = f"the model's LM head has {lm_vocab} outputs for the env's Discrete({vocab_size}) actions"
    elif lm_vocab - vocab_size > MAX_SPARE_ROWS:
        problem = (f"the model has {lm_vocab} token ids and the env's tokenizer {vocab_size}: the env's ids would pick "
                   f"the model's first {vocab_size} logits, which mean other tokens")
    elif eos_token_id is not None and model_eos and eos_token_id not in model_eos:
        problem = (f"the env ends episodes on token {eos_token_id} but the model's end-of-sequence id is "
                   f"{sorted(model_eos)}")
    if problem:
        raise VocabMismatchError(
            f"Model {name!r} and the env's tokenizer disagree: {problem}. Build the env with the model's own "
            f"tokenizer (e.g. gym.make(..., tokenizer={name!r})), or a model trained on this tokenizer."
        )


@dataclass
class PolicyOutput:
    """Logits over the env's ``V`` actions, value estimates, and the KV cache (for stepping)."""

    logits: torch.Tensor
    values: torch.Tensor
    cache: Any = None


def batch_observation(observation: dict[str, Any], device: torch.device | str = "cpu"
                      ) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """One observation or a batch (numpy or tensors) as long tensors with a batch dimension.

    Returns ``(input_ids, attention_mask, single)``, ``single`` telling whether a batch dimension was added.
    """
    ids = torch.as_tensor(np.asarray(observation["input_ids"]), device=device).long()
    mask = torch.as_tensor(np.asarray(observation["attention_mask"]), device=device).long()
    single = ids.dim() == 1
    return (ids[None], mask[None], True) if single else (ids, mask, False)


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids from a left-padded mask: 0 at the first real token (padding gets 0 too, it is masked)."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def distinct_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(unique, inverse)`` when at least half the rows repeat another row (ids and mask alike), else None.

    ``unique``: one row index per distinct row; ``inverse[i]``: the position in ``unique`` of row ``i``'s copy, so
    ``x[unique][inverse]`` is ``x`` for anything computed from each row alone.
    """
    rows = len(input_ids)
    if rows < 2:
        return None
    keys, inverse = torch.unique(torch.cat([input_ids, attention_mask.to(input_ids.dtype)], 1), dim=0,
                                 return_inverse=True)
    if 2 * len(keys) > rows:
        return None
    unique = torch.empty(len(keys), dtype=torch.long, device=input_ids.device)
    unique[inverse] = torch.arange(rows, device=input_ids.device)  # some row of each distinct one
    return unique, inverse


class TransformerPolicy(nn.Module):
    """A causal LM plus a scalar value head on its last hidden state.

    Args:
        model: ``"tiny"``/``"small"`` (a fresh GPT-2 of that size), a Hugging Face model name or local path
            (``AutoModelForCausalLM.from_pretrained``), or a ``PreTrainedModel`` instance.
        vocab_size: The env's action count ``V`` (``len(tokenizer)``).
        max_positions: Context length of a named config (at least the env's ``P + T``).
        eos_token_id, pad_token_id, bos_token_id: Special ids for a named config.
        dtype: Weight dtype of the LM (None: as built or loaded; ``"bfloat16"``, ``"float16"``, ``"float32"``).
        lora: None (train every weight), True (LoRA with :data:`LORA_DEFAULTS`), a dict of ``peft.LoraConfig``
            fields, or a ``LoraConfig``: only the adapters and the value head train.
    """

    def __init__(self, model: Any, vocab_size: int, max_positions: int = 512, eos_token_id: int | None = None,
                 pad_token_id: int | None = None, bos_token_id: int | None = None, dtype: Any = None,
                 lora: Any = None) -> None:
        super().__init__()
        self.vocab_size = vocab_size = check_int("vocab_size", vocab_size, minimum=2)
        tune_malloc()  # every pass allocates megabytes of activations: reuse them, not fresh pages (textgym.memory)
        weight_dtype = check_dtype(dtype)
        adapters = None if lora is None or lora is False else lora_config(lora)
        lm: Any = self._build(model, vocab_size, max_positions, eos_token_id, pad_token_id, bos_token_id)
        _check_vocabulary(lm, vocab_size, eos_token_id)
        fuse_activations(lm)
        use_cpu_attention(lm)
        if weight_dtype is not None:
            lm = lm.to(weight_dtype)
        base = lm
        if adapters is not None:
            from peft import get_peft_model

            with warnings.catch_warnings():  # peft sets fan_in_fan_out itself for GPT-2's Conv1D and says so
                warnings.filterwarnings("ignore", "fan_in_fan_out is set to False", UserWarning)
                warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
                lm = get_peft_model(lm, adapters)
            for parameter in lm.parameters():  # adapters in fp32 whatever the base's dtype
                if parameter.requires_grad:
                    parameter.data = parameter.data.float()
        self.lm, self.has_adapters = lm, adapters is not None
        self.dtype_name = next((k for k, v in DTYPES.items() if v == weight_dtype), None)
        self.value_head = nn.Linear(base.config.hidden_size, 1)
        # transformers >= 5.2x names the KV cache `cache` (in and out); earlier releases `past_key_values`.
        # A peft wrapper passes keywords through to the base model, whose signature is the one to read.
        parameters = inspect.signature(base.forward).parameters
        self._cache_name = "cache" if "cache" in parameters else "past_key_values"
        self._keeps_logits = "logits_to_keep" in parameters
        nn.init.zeros_(self.value_head.weight)  # start from V = 0, as TRL's value heads do
        nn.init.zeros_(self.value_head.bias)

    @property
    def base_model(self) -> Any:
        """The causal LM under the adapters (the LM itself without LoRA)."""
        return self.lm.get_base_model() if self.has_adapters else self.lm

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What an optimizer steps: every weight, or with LoRA the adapters and the value head."""
        return [parameter for parameter in self.parameters() if parameter.requires_grad]

    @contextlib.contextmanager
    def adapters_disabled(self) -> Iterator[TransformerPolicy]:
        """Within the block this policy is the base model (LoRA adapters off): the KL reference, no second copy."""
        if not self.has_adapters:
            raise InvalidArgumentError("adapters_disabled() needs a policy built with lora=...; this one has none.")
        with self.lm.disable_adapter():
            yield self

    @staticmethod
    def _build(model: Any, vocab_size: int, max_positions: int, eos: int | None, pad: int | None,
               bos: int | None) -> nn.Module:
        from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedModel

        if isinstance(model, PreTrainedModel):
            return model
        if isinstance(model, str) and model in NAMED_CONFIGS:
            size = NAMED_CONFIGS[model]
            config = GPT2Config(vocab_size=vocab_size, n_positions=max_positions, n_layer=size["n_layer"],
                                n_head=size["n_head"], n_embd=size["n_embd"], eos_token_id=eos, bos_token_id=bos,
                                pad_token_id=pad)
            return GPT2LMHeadModel(config)
        if isinstance(model, (str, os.PathLike)):
            try:
                return AutoModelForCausalLM.from_pretrained(str(model))
            except Exception as exc:  # OSError, ValueError, hub errors: all mean "no such model here"
                raise UnknownNameError(
                    f"Could not load model {str(model)!r}: {str(exc).rstrip('.')}. Offline, pass a local folder or a "
                    f"model already in the Hugging Face cache, or a named config. {suggest(str(model), NAMED_CONFIGS)}"
                ) from exc
        raise InvalidArgumentError(
            f"Expected model to be a name, a path or a PreTrainedModel, got {model!r} ({type(model).__name__}). "
            f"{suggest('', NAMED_CONFIGS)}"
        )

    def _run(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, keep: int | torch.Tensor | None = None,
             **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """The LM, with its head and the value head applied only at positions ``keep``.

        ``keep``: None (every position), an int (the last ``keep``) or a 1-D tensor of positions. The LM head is
        most of a small model's FLOPs per position, so it runs only where someone reads its output: through the
        model's own ``logits_to_keep`` where it has one (every causal LM of transformers 5), else sliced after.
        """
        keeps = keep is not None and self._keeps_logits
        out = self.lm(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask),
                      output_hidden_states=True, **({"logits_to_keep": keep} if keeps else {}), **kwargs)
        hidden, logits = out.hidden_states[-1], out.logits
        if keep is not None:
            index = slice(-keep, None) if isinstance(keep, int) else keep
            hidden = hidden[:, index]
            logits = logits if keeps else logits[:, index]
        return logits[..., : self.vocab_size], self._value(hidden), out

    def _value(self, hidden: torch.Tensor) -> torch.Tensor:
        """The value head (fp32 weights) on hidden states of the LM's dtype (under autocast it casts itself)."""
        return self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                keep: int | torch.Tensor | None = None) -> PolicyOutput:
        """Teacher-forced pass: logits ``[B, K, V]`` and values ``[B, K]`` at positions ``keep`` (default: all)."""
        logits, values, _ = self._run(input_ids, attention_mask, keep)
        return PolicyOutput(logits, values)

    def next_token(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> PolicyOutput:
        """Logits ``[B, V]`` and values ``[B]`` for the token after each row's last real one (no cache).

        Works on the env's layout, where the response is right-padded: the last real token is not always the
        last cell.
        """
        out = self(input_ids, attention_mask)
        last = attention_mask.shape[1] - 1 - attention_mask.flip(1).argmax(1)
        rows = torch.arange(len(input_ids), device=input_ids.device)
        return PolicyOutput(out.logits[rows, last], out.values[rows, last])

    def prompt_groups(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """:func:`distinct_rows` of these prompts; None in training mode.

        With dropout on, a shared pass would draw one dropout mask per distinct prompt instead of one per row.
        """
        return None if self.training else distinct_rows(input_ids, attention_mask)

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, share: bool = True,
                groups: tuple[torch.Tensor, torch.Tensor] | None = None) -> PolicyOutput:
        """Run the prompts once: logits ``[B, V]`` and values ``[B]`` for the first action, plus the KV cache.

        ``share``: where at least half the rows repeat another row's prompt (a group baseline plays each prompt
        ``group_size`` times), each distinct prompt runs once and its cache rows are copied to the rows that repeat
        it (:meth:`prompt_groups`, not in training mode). With gradients on, the copies' gradients add up in the
        shared pass, so the result is the same function of the weights as running every row. The cache must support
        ``batch_select_indices`` (transformers' ``Cache`` classes); without it every row runs. ``groups``: the
        caller's :meth:`prompt_groups` of these rows, if it has them already.
        """
        if groups is None and share:
            groups = self.prompt_groups(input_ids, attention_mask)
        if groups is None:
            logits, values, out = self._run(input_ids, attention_mask, keep=1, use_cache=True)
            return PolicyOutput(logits[:, -1], values[:, -1], out[self._cache_name])
        unique, inverse = groups
        logits, values, out = self._run(input_ids[unique], attention_mask[unique], keep=1, use_cache=True)
        cache = out[self._cache_name]
        if not hasattr(cache, "batch_select_indices"):  # a legacy tuple cache: run every row after all
            return self.prefill(input_ids, attention_mask, share=False)
        cache.batch_select_indices(inverse)
        return PolicyOutput(logits[inverse, -1], values[inverse, -1], cache)

    def decode(self, tokens: torch.Tensor, attention_mask: torch.Tensor, cache: Any) -> PolicyOutput:
        """One cached step: ``tokens`` ``[B]`` were just appended; ``attention_mask`` covers the whole prefix."""
        out = self.extend(tokens[:, None], attention_mask, cache)
        return PolicyOutput(out.logits[:, -1], out.values[:, -1], out.cache)

    def extend(self, tokens: torch.Tensor, attention_mask: torch.Tensor, cache: Any) -> PolicyOutput:
        """Append ``tokens`` ``[B, n]`` to a cached prefix: logits ``[B, n, V]``, values ``[B, n]`` and the cache.

        ``attention_mask`` ``[B, past + n]`` covers the cached prefix and the new tokens.
        """
        position = positions(attention_mask)[:, -tokens.shape[1]:]
        out = self.lm(input_ids=tokens, attention_mask=attention_mask, position_ids=position,
                      output_hidden_states=True, use_cache=True, **{self._cache_name: cache})
        return PolicyOutput(out.logits[..., : self.vocab_size], self._value(out.hidden_states[-1]),
                            out[self._cache_name])
