"""Device rollouts: episodes as the env played them, and log-probs that re-scoring reproduces."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import pytest
import torch

import textgym  # noqa: F401
from agents.policy import TransformerPolicy, distinct_rows
from agents.rollout import collect_rollout, sample, sequence_logprobs, token_logprobs
from textgym.error import InvalidArgumentError
from textgym.tokenization import decode_responses

KW = {"num_examples": {"train": 40}, "max_new_tokens": 12, "difficulty": 1}


@pytest.fixture(scope="module")
def setup():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=4, autoreset_mode="Disabled", **KW)
    envs.reset(seed=0)
    torch.manual_seed(0)
    policy = TransformerPolicy("tiny", envs.single_action_space.n, max_positions=128,
                               eos_token_id=envs.eos_token_id).eval()
    return envs, policy


def test_rollout_matches_the_env_and_rescoring(setup):
    envs, policy = setup
    rollout = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(1))
    N, T = 4, envs.max_new_tokens
    assert rollout.tokens.shape == (N, T) and rollout.mask.shape == (N, T)
    # the env saw exactly these tokens
    P = envs.max_prompt_tokens
    generated = envs.input_ids[:, P:]
    for i in range(N):
        n = int(rollout.lengths[i])
        assert torch.equal(generated[i, :n], rollout.tokens[i, :n]) and envs.num_generated[i] == n
    # each episode's return is the task's own score of the response it generated, paid at its last token only
    responses = decode_responses(envs.tokenizer, [rollout.tokens[i, : int(rollout.lengths[i])].tolist()
                                                  for i in range(N)])
    expected = envs.task.score(responses, [envs.examples[int(j)] for j in envs.example_index])
    assert rollout.returns.tolist() == pytest.approx(list(expected), abs=1e-6) and max(expected) > 0
    last = rollout.lengths - 1
    assert torch.equal(rollout.rewards.nonzero()[:, 0], (rollout.rewards[torch.arange(N), last] != 0).nonzero()[:, 0])
    assert torch.all(rollout.rewards.sum(1) == rollout.rewards[torch.arange(N), last])
    # one teacher-forced pass gives the sampled tokens' log-probs and values (KV cache vs full forward)
    with torch.no_grad():
        logprobs, values, entropy = sequence_logprobs(policy, rollout, entropy="logged")
    torch.testing.assert_close(logprobs, rollout.logprobs, atol=1e-5, rtol=0)
    torch.testing.assert_close(values, rollout.values, atol=1e-5, rtol=0)
    assert torch.all(entropy[rollout.mask.bool()] > 0)


def test_temperature_samples_and_scores_the_same_sharpened_distribution(setup):
    """At temperature 0.3 the stored log-probs are those of softmax(logits / 0.3), what re-scoring at 0.3 computes
    (so PPO's first ratio stays 1), not the T = 1 ones; the entropy is that of the sharper distribution."""
    envs, policy = setup
    envs.reset(seed=5)
    cold = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(1), temperature=0.3)
    with torch.no_grad():
        at_t, _, entropy_t = sequence_logprobs(policy, cold, entropy="logged", temperature=0.3)
        at_1, _, entropy_1 = sequence_logprobs(policy, cold, entropy="logged")
    torch.testing.assert_close(at_t, cold.logprobs, atol=1e-5, rtol=0)
    real = cold.mask.bool()
    assert (at_t[real] - at_1[real]).abs().max() > 0.1
    assert entropy_t[real].mean() < entropy_1[real].mean()


def test_rollout_is_reproducible_and_greedy_is_deterministic(setup):
    envs, policy = setup
    envs.reset(seed=3)
    a = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(7))
    envs.reset(seed=3)
    b = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.rewards, b.rewards)
    envs.reset(seed=3)
    greedy = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(1), deterministic=True)
    envs.reset(seed=3)
    again = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(2), deterministic=True)
    assert torch.equal(greedy.tokens, again.tokens)  # the generator plays no part
    # same prompts (same seed), so at the first token greedy picks the most likely one
    assert torch.equal(greedy.prompt_ids, a.prompt_ids)
    assert torch.all(greedy.logprobs[:, 0] >= a.logprobs[:, 0])


def test_rollout_needs_disabled_autoreset():
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=2, **KW)
    policy = TransformerPolicy("tiny", envs.single_action_space.n, max_positions=128)
    with pytest.raises(InvalidArgumentError, match=r"autoreset_mode=DISABLED"):
        collect_rollout(policy, envs)


def _full_sequence_logprobs(policy, rollout):
    """The computation before issue 14: every position through the LM head, [B, L, V] log-softmax, no trimming."""
    P = rollout.prompt_ids.shape[1]
    out = policy(torch.cat([rollout.prompt_ids, rollout.tokens], 1), torch.cat([rollout.prompt_mask, rollout.mask], 1))
    log_probs = out.logits[:, P - 1 : -1].float().log_softmax(-1)
    chosen = log_probs.gather(2, rollout.tokens[:, :, None])[..., 0]
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return tuple(x * rollout.mask for x in (chosen, out.values[:, P - 1 : -1].float(), entropy))


def test_response_only_head_and_trimmed_padding_give_the_full_computation(setup):
    """Prompts of different lengths (the left padding of the shortest is cut) and responses that end early (the
    columns past every row's end are cut): the same log-probs, values and entropies as the full forward."""
    envs, policy = setup
    envs.reset(seed=5)
    rollout = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(4))
    assert rollout.prompt_mask[:, 0].sum() == 0 and rollout.lengths.max() <= envs.max_new_tokens
    with torch.no_grad():
        expected = _full_sequence_logprobs(policy, rollout)
        for rows in (slice(None), torch.tensor([2, 0]), torch.tensor([1])):
            got = sequence_logprobs(policy, rollout, rows, entropy="logged")
            for a, b in zip(got, expected, strict=True):
                torch.testing.assert_close(a, b[rows], atol=1e-5, rtol=1e-5)
    # with a gradient for the entropy bonus, the same values (the chunked, graph-free entropy is only for logging)
    with_grad = sequence_logprobs(policy, rollout, slice(None), entropy="grad")
    torch.testing.assert_close(with_grad[2].detach(), expected[2], atol=1e-5, rtol=1e-5)
    assert with_grad[2].requires_grad and not sequence_logprobs(policy, rollout, entropy="logged")[2].requires_grad
    assert sequence_logprobs(policy, rollout)[2] is None  # nobody reads it: not computed


def _llama(vocab_size: int, eos: int) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                        max_position_embeddings=128, eos_token_id=eos))


@pytest.mark.parametrize("architecture", ["gpt2", "llama"])
def test_repeated_prompts_run_once_with_the_same_outputs_and_gradients(architecture):
    """A group baseline's rollout (each prompt played 4 times, prompts of different lengths): the rollout's prefill
    and re-scoring run each distinct prompt once, and give the log-probs, values, entropies and gradients of
    running every row, for GPT-2 and for Llama (rotary positions, grouped KV heads); not in training mode."""
    envs = gym.make_vec("TextGen-Translate-v0", num_envs=8, autoreset_mode="Disabled", **KW)
    torch.manual_seed(0)
    V = int(envs.single_action_space.n)
    model = "tiny" if architecture == "gpt2" else _llama(V, envs.eos_token_id)
    policy = TransformerPolicy(model, V, max_positions=128, eos_token_id=envs.eos_token_id).eval()
    torch.nn.init.normal_(policy.value_head.weight)  # zero at init: make the values say something
    positions = []
    policy.lm.register_forward_pre_hook(lambda m, a, kw: positions.append(kw["input_ids"].numel()),
                                        with_kwargs=True)
    options = {"example_index": torch.tensor([5, 5, 5, 5, 17, 17, 17, 17])}
    rollout = collect_rollout(policy, envs, generator=torch.Generator().manual_seed(2), options=options)
    P = rollout.prompt_ids.shape[1]
    assert positions[0] == 2 * P  # the prefill ran two prompts, not eight
    cut = rollout.mask * (torch.arange(rollout.mask.shape[1]) < torch.tensor([12, 3, 7, 12, 5, 12, 1, 9])[:, None])
    rollout = dataclasses.replace(rollout, mask=cut, tokens=rollout.tokens * cut, logprobs=rollout.logprobs * cut)
    lengths = rollout.prompt_mask.sum(1)
    assert lengths[0] != lengths[4] and rollout.lengths.min() < rollout.lengths.max()  # padding on both sides
    full = TransformerPolicy.prompt_groups
    results = {}
    for shared in (True, False):
        if not shared:
            policy.prompt_groups = lambda ids, mask: None
        policy.zero_grad()
        positions.clear()
        logprobs, values, _ = sequence_logprobs(policy, rollout, entropy="none")
        (logprobs.sum() + values.sum()).backward()
        with torch.no_grad():
            entropy = sequence_logprobs(policy, rollout, entropy="logged")[2]
        grads = [p.grad.clone() for p in policy.parameters()]
        results[shared] = (logprobs.detach(), values.detach(), entropy, grads, positions[0])
    del policy.prompt_groups
    assert TransformerPolicy.prompt_groups is full
    (*outputs, grads, ran) = results[True]
    (*expected, expected_grads, ran_full) = results[False]
    for a, b in zip(outputs, expected, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert ran < ran_full / 2  # two prompts and eight responses against eight prompt + response rows
    # the rollout's own log-probs (a shared prefill, then cached decoding) agree with re-scoring
    torch.testing.assert_close(rollout.logprobs, outputs[0], atol=1e-5, rtol=0)
    assert policy.prompt_groups(rollout.prompt_ids, rollout.prompt_mask) is not None
    assert policy.train().prompt_groups(rollout.prompt_ids, rollout.prompt_mask) is None  # dropout: one mask a row


def test_distinct_rows_shares_only_when_half_the_rows_repeat():
    ids = torch.tensor([[1, 2], [1, 2], [3, 4], [1, 2]])
    mask = torch.ones_like(ids)
    unique, inverse = distinct_rows(ids, mask)
    assert torch.equal(ids[unique][inverse], ids) and len(unique) == 2
    left_padded = mask.clone()
    left_padded[1, 0] = 0  # the same ids with another mask are another prompt
    assert distinct_rows(ids, left_padded) is None  # 3 distinct of 4
    assert distinct_rows(ids[:1], mask[:1]) is None


def test_inverse_cdf_sampling_draws_the_distribution_and_never_an_impossible_token():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20_000, 1)
    log_probs = probs.log()  # -inf for the impossible tokens, as a masked or underflowed softmax gives
    draws = sample(log_probs, torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=6).double() / len(draws)
    assert counts[[0, 2, 5]].sum() == 0
    torch.testing.assert_close(counts, probs[0].double(), atol=0.015, rtol=0)
    again = sample(log_probs, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)  # seeded


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("rows", [1, 5, 64])  # one row, chunks that do not divide the 13 positions, one chunk
def test_chunked_token_logprobs_equal_the_log_softmax_with_its_gradient(temperature, rows):
    generator = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(13, 50, generator=generator, dtype=torch.float64)).requires_grad_()
    tokens = torch.randint(0, 50, (13,), generator=generator)
    w_logprob, w_entropy = torch.randn(2, 13, generator=generator, dtype=torch.float64)
    log_p = (logits / temperature).log_softmax(-1)
    want_logprob, want_entropy = log_p.gather(1, tokens[:, None]).squeeze(1), -(log_p.exp() * log_p).sum(-1)
    both = (want_logprob * w_logprob + want_entropy * w_entropy).sum()
    want = torch.autograd.grad(both, logits, retain_graph=True)[0]
    logprob, entropy = token_logprobs(logits, tokens, temperature, "grad", rows=rows)
    assert logprob.dtype == entropy.dtype == torch.float64
    torch.testing.assert_close(logprob, want_logprob, rtol=0, atol=1e-12)
    torch.testing.assert_close(entropy, want_entropy, rtol=0, atol=1e-12)
    got = torch.autograd.grad((logprob * w_logprob + entropy * w_entropy).sum(), logits)[0]
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    # the log-prob alone: the entropy is logged (no gradient) or not computed
    want = torch.autograd.grad((want_logprob * w_logprob).sum(), logits)[0]
    for mode in ("logged", "none"):
        logprob, entropy = token_logprobs(logits, tokens, temperature, mode, rows=rows)
        assert (entropy is None) == (mode == "none") and (entropy is None or not entropy.requires_grad)
        torch.testing.assert_close(torch.autograd.grad((logprob * w_logprob).sum(), logits)[0], want, rtol=0,
                                   atol=1e-12)


def test_token_logprobs_of_bf16_logits_are_float32_and_keep_the_logits_dtype_in_the_gradient():
    logits = torch.randn(2, 6, 300, generator=torch.Generator().manual_seed(0)).bfloat16().requires_grad_()
    tokens = torch.randint(0, 300, (2, 6), generator=torch.Generator().manual_seed(1))
    logprob, _ = token_logprobs(logits, tokens, rows=4)
    assert logprob.shape == (2, 6) and logprob.dtype == torch.float32
    want = logits.float().log_softmax(-1).gather(-1, tokens[..., None]).squeeze(-1)
    torch.testing.assert_close(logprob, want, rtol=0, atol=1e-5)  # the same float32 softmax of the bf16 values
    logprob.sum().backward()
    assert logits.grad.dtype == torch.bfloat16 and torch.all(logits.grad.float().sum(-1).abs() < 1e-2)


def test_token_logprobs_rejects_an_unknown_entropy_mode():
    with pytest.raises(InvalidArgumentError, match=r"'bonus'.*'none', 'logged', 'grad'"):
        token_logprobs(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), entropy="bonus")
