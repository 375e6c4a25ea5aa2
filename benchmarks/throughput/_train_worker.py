"""One timed side of ``benchmarks/throughput/train.py --preset``: run as a script, prints one JSON line.

    python benchmarks/throughput/_train_worker.py PRESET_JSON

Started by the benchmark in a fresh interpreter whose ``PYTHONPATH`` puts either this checkout or an older
commit's worktree first, so the same lines time both. It therefore uses only what every timed commit has:
``agents.ppo.PPO`` with a model instance and a built vector env, ``textgym.tokenization.train_bpe_tokenizer``,
a ``.tsv`` dataset, and the ``time/*_s`` statistics of an update. Nothing from ``benchmarks`` is imported.

With ``"ranks": N`` in the preset it runs as one of ``torchrun``'s N data-parallel ranks (a commit with
``agents.distributed``): each rank takes ``1/N`` of the envs, of the minibatch and of the threads, so the N ranks
together run the preset's update on the same cores, and rank 0 prints the figures of all of them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any


class FlopCounter:
    """FLOPs a Hugging Face GPT-2-style LM ran, from hooks counting the positions through its trunk and its head.

    Forward-only passes cost 2 x params a position, training passes (forward and backward) 6 x params.
    The head is counted only at the positions it ran (the response-only head skips the others); the tied token
    embedding counts as the head (the lookup is free), the position table not at all; attention's own FLOPs
    (~1 % at these lengths) are left out. Padding counts: the hardware computes it.
    """

    def __init__(self, lm: Any) -> None:
        import torch

        self.params = sum(p.numel() for name, p in lm.named_parameters() if "wpe" not in name)
        self.head = lm.lm_head.weight.numel()
        self.trunk = self.params - self.head
        self.counts = dict.fromkeys(("trunk_forward", "trunk_train", "head_forward", "head_train"), 0)

        def trunk(module: object, args: tuple, kwargs: dict) -> None:
            ids = kwargs.get("input_ids", args[0] if args else None)
            if ids is not None:
                self.counts["trunk_train" if torch.is_grad_enabled() else "trunk_forward"] += ids.numel()

        def head(module: object, args: tuple) -> None:
            positions = args[0].shape[0] * args[0].shape[1] if args[0].dim() == 3 else args[0].shape[0]
            self.counts["head_train" if torch.is_grad_enabled() else "head_forward"] += positions

        lm.transformer.register_forward_pre_hook(trunk, with_kwargs=True)
        lm.lm_head.register_forward_pre_hook(head)

    def reset(self) -> None:
        """Forget what was counted so far (after a warm-up)."""
        self.counts.update(dict.fromkeys(self.counts, 0))

    def training_flops(self) -> float:
        """FLOPs of the passes run with gradients."""
        return 6.0 * (self.trunk * self.counts["trunk_train"] + self.head * self.counts["head_train"])

    def flops(self) -> float:
        """All FLOPs counted: forward-only passes and training passes."""
        forward = 2.0 * (self.trunk * self.counts["trunk_forward"] + self.head * self.counts["head_forward"])
        return forward + self.training_flops()


def main() -> None:
    """Build the preset's setting, warm up one update, time ``updates`` updates, print the figures."""
    preset = json.loads(sys.argv[1])
    import gymnasium as gym
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    import textgym  # registers the ids; its path says which tree was timed
    from agents.ppo import PPO
    from textgym.tokenization import train_bpe_tokenizer

    ranks, rank = preset.get("ranks", 1), int(os.environ.get("RANK", "0"))
    if ranks != int(os.environ.get("WORLD_SIZE", "1")):
        raise SystemExit(f"preset ranks={ranks} but WORLD_SIZE={os.environ.get('WORLD_SIZE', '1')}: launch it with "
                         f"torchrun --nproc_per_node {ranks}")
    for key, value in (("threads", preset["threads"]), ("num_envs", preset["num_envs"]),
                       ("batch_size", preset["ppo"]["batch_size"])):
        if value % ranks:
            raise SystemExit(f"{key}={value} does not split over {ranks} ranks")
    torch.set_num_threads(preset["threads"] // ranks)
    data = Path(preset["data_dir"]) / "multi30k"
    import gzip

    with gzip.open(data / "train.en.gz", "rt", encoding="utf-8") as en, \
            gzip.open(data / "train.de.gz", "rt", encoding="utf-8") as de:
        pairs = [(s.strip(), t.strip()) for s, t, _ in zip(en, de, range(preset["pairs"]), strict=False)]
    work = Path(preset["work_dir"]) / f"rank{rank}"  # each rank writes its own (identical) files
    work.mkdir(parents=True, exist_ok=True)
    tsv = work / "multi30k-first.tsv"
    tsv.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    tokenizer = train_bpe_tokenizer([text for pair in pairs for text in pair], work / "bpe.json",
                                    vocab_size=preset["vocab_size"])
    num_envs = preset["num_envs"] // ranks
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=num_envs, autoreset_mode="Disabled",
                        dataset=str(tsv), tokenizer=tokenizer, max_prompt_tokens=preset["max_prompt_tokens"],
                        max_new_tokens=preset["max_new_tokens"], scoring_workers=0)
    torch.manual_seed(0)
    length = preset["max_prompt_tokens"] + preset["max_new_tokens"]
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=length, n_layer=preset["n_layer"],
                        n_head=preset["n_head"], n_embd=preset["n_embd"],
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, eos_token_id=tokenizer.eos_token_id,
                        bos_token_id=tokenizer.bos_token_id, pad_token_id=tokenizer.pad_token_id)
    ppo = {**preset["ppo"], "batch_size": preset["ppo"]["batch_size"] // ranks}  # the ranks' minibatches: one
    model = PPO(GPT2LMHeadModel(config), envs, seed=0, **ppo)
    counters = [FlopCounter(m.lm) for m in (model.policy, model.reference) if m is not None]
    model.learn(preset["num_envs"] * preset["max_new_tokens"])  # one warm-up update, untimed (timesteps: all ranks')
    model.history.clear()
    for counter in counters:
        counter.reset()
    start, before = time.perf_counter(), model.num_timesteps
    for _ in range(preset["updates"]):
        model.history.append(model._update())
    elapsed = time.perf_counter() - start
    split = {k: sum(h[f"time/{k}_s"] for h in model.history) for k in ("rollout", "rescore", "optimise")}  # ranks' mean
    flops = torch.tensor([sum(c.flops() for c in counters), counters[0].training_flops()], dtype=torch.float64)
    if ranks > 1:
        import torch.distributed as dist

        dist.all_reduce(flops)  # every rank's FLOPs
        dist.destroy_process_group()
        if rank:
            return
    print(json.dumps({"tokens_per_s": (model.num_timesteps - before) / elapsed, "seconds": elapsed,
                      "tokens": model.num_timesteps - before,
                      "textgym": str(Path(textgym.__file__).resolve().parents[1]), "split": split,
                      "flops_per_s": float(flops[0]) / elapsed, "params": counters[0].params,
                      "optimise_flops_per_s": float(flops[1]) / split["optimise"], "ranks": ranks,
                      # what the run computed in (an older commit without the attribute ran in fp32)
                      "precision": "bf16" if getattr(model, "autocast_dtype", None) == torch.bfloat16 else "fp32"}))


if __name__ == "__main__":
    main()
