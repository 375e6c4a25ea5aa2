"""The packages' layering (DESIGN §1): the environment library does not depend on the agents built on it."""

from __future__ import annotations


def test_the_environment_library_imports_nothing_from_the_agents():
    """``textgym`` is the env library; ``agents`` (PPO, SFT, the ``textgym`` command) builds on it, never the
    other way round: a fresh interpreter that uses every env path has loaded no ``agents`` module."""
    import subprocess
    import sys

    code = ("import sys, gymnasium as gym, textgym, textgym.vector.torch_env, textgym.vector.sb3\n"
            "env = gym.make('TextGen-Translate-v0', num_examples={'train': 20}); env.reset(seed=0)\n"
            "envs = gym.make_vec('TextGen-Translate-v0', num_envs=2, num_examples={'train': 20}); envs.reset(seed=0)\n"
            "print(sorted(m for m in sys.modules if m == 'agents' or m.startswith('agents.')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
