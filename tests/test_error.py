"""The one argument check (``check_int``) and the error hierarchy."""

from __future__ import annotations

import numpy as np
import pytest

from textgym.error import InvalidArgumentError, TextGymError, check_int


def test_check_int_accepts_python_and_numpy_ints_and_returns_python_ints():
    assert check_int("n", 3) == 3 and type(check_int("n", np.int32(3))) is int
    assert check_int("seed", 0, minimum=0) == 0
    assert check_int("difficulty", 5, 1, 5) == 5


@pytest.mark.parametrize(
    ("value", "kwargs", "match"),
    [
        (0, {}, r"Expected n to be a positive int, got 0 \(int\)\.$"),
        (True, {}, r"Expected n to be a positive int, got True \(bool\)"),
        (np.bool_(True), {}, r"got np.True_ \(bool\)"),
        (2.0, {}, r"got 2.0 \(float\)"),
        ("3", {}, r"got '3' \(str\)"),
        (-1, {"minimum": 0}, r"Expected n to be an int >= 0, got -1"),
        (6, {"minimum": 1, "maximum": 5}, r"Expected n to be an int in 1..5, got 6"),
        (0, {"unit": " (updates)"}, r"Expected n to be a positive int \(updates\), got 0"),
    ],
)
def test_check_int_names_the_value_its_type_and_the_accepted_range(value, kwargs, match):
    with pytest.raises(InvalidArgumentError, match=match) as caught:
        check_int("n", value, **kwargs)
    assert isinstance(caught.value, TextGymError) and isinstance(caught.value, ValueError)


def test_sandbox_refuses_zero_workers_instead_of_reading_it_as_the_default():
    from textgym.scorers.code_exec import Sandbox

    with pytest.raises(InvalidArgumentError, match=r"Expected num_workers to be a positive int, got 0 \(int\)"):
        Sandbox(num_workers=0)
