"""Device rollouts: episodes as the env played them, and log-probs that re-scoring reproduces."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import textgym  # noqa: F401
from agents.policy import TransformerPolicy
from agents.rollout import collect_rollout, sample, sequence_logprobs
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


def test_inverse_cdf_sampling_draws_the_distribution_and_never_an_impossible_token():
    probs = torch.tensor([[0.0, 0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20_000, 1)
    log_probs = probs.log()  # -inf for the impossible tokens, as a masked or underflowed softmax gives
    draws = sample(log_probs, torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=6).double() / len(draws)
    assert counts[[0, 2, 5]].sum() == 0
    torch.testing.assert_close(counts, probs[0].double(), atol=0.015, rtol=0)
    again = sample(log_probs, torch.Generator().manual_seed(0))
    assert torch.equal(draws, again)  # seeded
