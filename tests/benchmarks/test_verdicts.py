"""The verdict-coverage statistic of issue 17: every HumanEval test is decided from plain data."""

from __future__ import annotations

import os

import pytest

from benchmarks.verdicts import coverage, main
from tests.data import SHARED_DATA, shared_data


@pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox isolates programs as root; CI runs as root")
def test_humaneval_verdicts_are_all_decided_on_the_host_or_by_the_judge(capsys):
    shared_data("humaneval")
    result = coverage("humaneval", SHARED_DATA, num_workers=2)
    assert (result["problems"], result["tests"]) == (164, 1154)
    assert (result["host"], result["judge"], result["undecided"], result["failing"]) == (1047, 107, 0, [])
    assert main(["--datasets", "builtin", "--data-dir", str(SHARED_DATA)]) == 0
    assert "builtin" in capsys.readouterr().out
