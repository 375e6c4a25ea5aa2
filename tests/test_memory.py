"""textgym.memory: glibc's thresholds set so freed megabytes are reused, not page-faulted afresh at every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from textgym.memory import is_glibc

pytestmark = pytest.mark.skipif(not is_glibc(), reason="glibc's malloc only")

# A step's pattern: a few 4 MiB arrays alive together, then freed. Under glibc's defaults the freed 16 MiB lie at
# the heap's top beyond twice the (raised) mmap threshold, so they are trimmed and the next step faults them in again.
PATTERN = """
import json, resource
import numpy as np
from textgym.memory import is_tuned, tune_malloc
{setup}
def step():
    arrays = [np.ones(1 << 19) for _ in range(4)]  # 4 x 4 MiB, every page written
    del arrays
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(json.dumps({{"faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, "tuned": is_tuned(),
                  "result": result}}))
"""
STEP_PAGES = 4 * (4 << 20) // 4096


def _run(setup: str = "result = None", **env: str) -> dict:
    """The pattern in a fresh interpreter after ``setup`` (which sets ``result``): its faults over 20 steps."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "TEXTGYM_TUNE_MALLOC"}
    out = subprocess.run([sys.executable, "-c", PATTERN.format(setup=setup)], capture_output=True, text=True,
                         check=True, env={**environment, **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_tuned_malloc_reuses_freed_megabytes_where_glibc_s_defaults_fault_them_in_at_every_step():
    default, tuned = _run(), _run("result = tune_malloc()")
    assert default == {"faults": default["faults"], "tuned": False, "result": None}
    assert default["faults"] >= 20 * STEP_PAGES // 4  # the defaults give the freed memory back step after step
    assert tuned["result"] is True and tuned["tuned"] is True
    assert tuned["faults"] < STEP_PAGES  # tuned: reused from the heap, less than one step's pages in all


@pytest.mark.parametrize("env", [{"MALLOC_TRIM_THRESHOLD_": "131072"}, {"MALLOC_MMAP_THRESHOLD_": "131072"},
                                 {"TEXTGYM_TUNE_MALLOC": "0"}])
def test_a_process_s_own_malloc_settings_or_the_opt_out_leave_glibc_alone(env):
    result = _run("result = tune_malloc()", **env)
    assert result["result"] is False and result["tuned"] is False
    assert result["faults"] >= 20 * STEP_PAGES // 4, env  # glibc's behaviour (or the process's own), untouched


def test_building_a_vector_env_or_a_policy_tunes_it():
    env = _run("import gymnasium as gym, textgym\nbefore = is_tuned()\n"
               "gym.make_vec('TextGen-Translate-v0', num_envs=2, num_examples={'train': 8, 'validation': 4, "
               "'test': 4}).close()\nresult = [before, is_tuned()]")
    assert env["result"] == [False, True] and env["faults"] < STEP_PAGES
    policy = _run("from agents.policy import TransformerPolicy\nbefore = is_tuned()\n"
                  "TransformerPolicy('tiny', vocab_size=32)\nresult = [before, is_tuned()]")
    assert policy["result"] == [False, True] and policy["faults"] < STEP_PAGES


def test_an_unknown_opt_out_value_is_an_error_naming_it_and_the_accepted_ones():
    out = subprocess.run([sys.executable, "-c", "from textgym.memory import tune_malloc; tune_malloc()"],
                         capture_output=True, text=True, env={**os.environ, "TEXTGYM_TUNE_MALLOC": "false"})
    assert out.returncode != 0
    assert "InvalidArgumentError: Unknown TEXTGYM_TUNE_MALLOC='false'. Accepted: '1' (the default) or '0'" in out.stderr
