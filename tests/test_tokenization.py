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
