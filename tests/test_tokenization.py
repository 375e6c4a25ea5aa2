"""The default BPE tokenizer (deterministic, cached, round-tripping) and Hugging Face tokenizers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from transformers import PreTrainedTokenizerFast

import textgym  # noqa: F401
from textgym.error import InvalidArgumentError, TokenizerError
from textgym.tasks import make_task
from textgym.tokenization import build_tokenizer, decode_responses, train_bpe_tokenizer

BUILD = """
import sys
from textgym.tasks import make_task
from textgym.tokenization import build_tokenizer
build_tokenizer(make_task("translate"), directory=sys.argv[1])
"""


@pytest.mark.slow  # two fresh interpreters, each training the BPE (~9 s)
def test_default_tokenizer_is_byte_identical_across_fresh_builds(tmp_path):
    files = []
    for run, hash_seed in enumerate(("1", "2")):  # separate interpreters with different string hashing
        out = tmp_path / f"run{run}"
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, "-c", BUILD, str(out)], check=True, env=env, cwd=Path(__file__).parents[1])
        (path,) = (out / "tokenizers").glob("*.json")
        files.append(path.read_bytes())
    assert files[0] == files[1] and len(files[0]) > 10_000


def test_tokenizer_is_cached_and_wrapped(tmp_path):
    task = make_task("translate")
    tok = build_tokenizer(task, directory=tmp_path)
    (path,) = (tmp_path / "tokenizers").glob("translate-*.json")
    mtime = path.stat().st_mtime_ns
    again = build_tokenizer(task, directory=tmp_path)
    assert path.stat().st_mtime_ns == mtime and again.get_vocab() == tok.get_vocab()
    assert isinstance(tok, PreTrainedTokenizerFast) and len(tok) == 2048
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)


@pytest.mark.parametrize("text", ["Der Mann liest ein Buch.", "L'enfant ne boit pas de jus.", "naïve — 東京 🙂\n\tx"])
def test_round_trip(text):
    tok = build_tokenizer(make_task("translate"))
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_builtin_words_are_mostly_single_tokens():
    task = make_task("translate", difficulty=3)
    tok = build_tokenizer(task)
    refs = [ex.references[0] for ex in task.examples("validation")[:200]]
    num_tokens = sum(len(tok(r, add_special_tokens=False)["input_ids"]) for r in refs)
    num_words = sum(len(r.split()) for r in refs)
    assert num_tokens / num_words < 1.5  # the final period is a token of its own


def test_hf_tokenizer_by_path_and_instance(tmp_path):
    base = build_tokenizer(make_task("translate"))
    base.save_pretrained(tmp_path / "tok")
    by_path = gym.make("TextGen-Translate-v0", tokenizer=str(tmp_path / "tok"))
    assert by_path.unwrapped.tokenizer.get_vocab() == base.get_vocab()
    by_instance = gym.make("TextGen-Translate-v0", tokenizer=base)
    assert by_instance.unwrapped.tokenizer is base


def test_other_tokenizer_changes_the_action_space(tmp_path):
    small = train_bpe_tokenizer(["Der Mann liest ein Buch.", "The man reads a book."] * 50, tmp_path / "s.json",
                                vocab_size=300)
    env = gym.make("TextGen-Translate-v0", tokenizer=small)
    assert env.action_space.n == len(small) <= 300
    env.reset(seed=0)
    for a in env.unwrapped.reference_actions():
        *_, terminated, _, info = env.step(a)
    assert terminated and info["score"] == 1.0  # byte-level BPE spells any reference


def test_tokenizer_without_eos(tmp_path):
    tok = train_bpe_tokenizer(["a b c"] * 10, tmp_path / "t.json", vocab_size=300)
    tok.eos_token = None
    with pytest.raises(TokenizerError, match=r"has no EOS token \(eos_token_id is None\)"):
        gym.make("TextGen-Translate-v0", tokenizer=tok)


def test_unloadable_tokenizer_name():
    with pytest.raises(TokenizerError, match=r"Could not load tokenizer 'no-org/no-such-tokenizer'"):
        gym.make("TextGen-Translate-v0", tokenizer="no-org/no-such-tokenizer")
    with pytest.raises(TokenizerError, match=r"Expected tokenizer to be None, a name/path string.*got 5 \(int\)"):
        gym.make("TextGen-Translate-v0", tokenizer=5)
    with pytest.raises(InvalidArgumentError, match=r"Expected vocab_size to be an int >= 300"):
        train_bpe_tokenizer(["x"], "unused.json", vocab_size=10)


def test_decode_responses_equals_batch_decode_and_respects_custom_decoders():
    import random

    tokenizer = build_tokenizer(make_task("translate"))
    rng = random.Random(0)
    sequences = [[rng.randrange(len(tokenizer)) for _ in range(rng.randrange(0, 40))] for _ in range(200)]
    sequences.append([tokenizer.eos_token_id, *tokenizer.encode("Der Mann liest.")])
    expected = tokenizer.batch_decode(sequences, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert decode_responses(tokenizer, sequences) == expected
    assert decode_responses(tokenizer, sequences[-1:]) == ["Der Mann liest."]

    class Shouting(type(tokenizer)):  # a tokenizer with its own _decode is decoded through it
        def _decode(self, token_ids, **kwargs):
            return super()._decode(token_ids, **kwargs).upper()

    shouting = Shouting(tokenizer_object=tokenizer.backend_tokenizer, eos_token=tokenizer.eos_token)
    assert decode_responses(shouting, sequences[-1:]) == ["DER MANN LIEST."]


def test_split_digits_keeps_every_digit_a_token(tmp_path):
    texts = [f"return x + {k}\nreturn x * {k % 7} + {k}\n" for k in range(1, 60)] * 20
    plain = train_bpe_tokenizer(texts, tmp_path / "plain.json", vocab_size=400)
    split = train_bpe_tokenizer(texts, tmp_path / "split.json", vocab_size=400, split_digits=True)

    def pieces(tok, text):
        return [tok.decode([i]) for i in tok(text, add_special_tokens=False)["input_ids"]]

    assert " 13" in pieces(plain, "return x + 13")  # the plain BPE merges the number with its space
    assert pieces(split, "return x + 13")[-3:] == [" ", "1", "3"]
    assert not [t for t in split.get_vocab() if sum(c.isnumeric() for c in split.convert_tokens_to_string([t])) > 1]
    for text in ("x = 1234567890", "٣٤ ½ ²3 naïve — 東京 🙂\n\t42"):
        assert split.decode(split(text, add_special_tokens=False)["input_ids"]) == text


@pytest.mark.slow  # trains the code task's digit-split BPE in the session's fresh cache (~6 s)
def test_code_env_with_split_digits_spells_its_references_digit_by_digit():
    env, plain = gym.make("TextGen-Code-v0", split_digits=True), gym.make("TextGen-Code-v0")
    tokenizer = env.unwrapped.tokenizer
    assert tokenizer.get_vocab() != plain.unwrapped.tokenizer.get_vocab()
    plain.close()
    numbers = 0
    for seed in range(20):
        env.reset(seed=seed)
        actions = env.unwrapped.reference_actions()
        pieces = [tokenizer.decode([a]) for a in actions]
        assert all(len(p) == 1 for p in pieces if any(c.isdigit() for c in p))
        numbers += sum(p.isdigit() for p in pieces)
        for a in actions:
            *_, terminated, _, info = env.step(a)
        assert terminated and info["score"] == 1.0
    assert numbers >= 10  # the references hold constants, and every digit of them is a token
    env.close()
    vector = gym.make_vec("TextGen-Code-v0", num_envs=2, split_digits=True)  # the vector env's episode takes it too
    assert vector.tokenizer.get_vocab() == tokenizer.get_vocab()
    vector.close()


def test_split_digits_refusals():
    tokenizer = build_tokenizer(make_task("translate"))
    with pytest.raises(InvalidArgumentError, match=r"split_digits=True shapes the task's default BPE tokenizer "
                                                   rf"\(tokenizer=None\), but tokenizer={type(tokenizer).__name__} "
                                                   "was given"):
        gym.make("TextGen-Translate-v0", tokenizer=tokenizer, split_digits=True)
    with pytest.raises(InvalidArgumentError, match=r"but tokenizer='gpt2' was given, whose pre-tokenizer is its own"):
        gym.make("TextGen-Translate-v0", tokenizer="gpt2", split_digits=True)
    with pytest.raises(InvalidArgumentError, match=r"Expected split_digits to be True or False, got 'yes' \(str\)"):
        gym.make("TextGen-Translate-v0", split_digits="yes")
