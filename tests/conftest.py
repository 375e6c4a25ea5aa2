"""Shared fixtures: markers, RNG restoration, an isolated tokenizer cache and the shared data folder."""

from __future__ import annotations

import os
import random
import signal

import numpy as np
import pytest

# Tests never reach a model or dataset hub: fail fast instead of retrying DNS for half a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

# A shell starts a background job (`pytest &`, nohup, a script's `cmd &`) with SIGINT ignored, and a child process
# inherits an ignored signal: the Ctrl-C tests' CLIs would then run to the end and exit 0. Children of the test
# process get SIGINT's default disposition, as from a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    run_slow = config.getoption("--runslow")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:  # pragma: no cover - torch is a dependency
        has_cuda = False
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: run with --runslow"))
        if "gpu" in item.keywords and not has_cuda:
            item.add_marker(pytest.mark.skip(reason="gpu: no CUDA device found"))


@pytest.fixture(autouse=True)
def _restore_rng_state():
    """Restore python, numpy and torch RNG state after each test (as torchrl's conftest does)."""
    import torch

    py_state, np_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)


@pytest.fixture(scope="session", autouse=True)
def _tokenizer_cache(tmp_path_factory: pytest.TempPathFactory):
    """Train default tokenizers into a session-private cache, not the user's ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TEXTGYM_CACHE_DIR", str(tmp_path_factory.mktemp("textgym-cache")))
    yield
    mp.undo()
