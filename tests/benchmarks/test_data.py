"""``$TEXTGYM_SHARED_DATA``: one lookup of the shared data folder for tests, benchmarks and the leaderboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.data import ENV_VAR, default_data_dir
from textgym.error import DataFileNotFoundError


def test_the_variable_points_anywhere_and_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert default_data_dir() == tmp_path.resolve()


def test_a_variable_naming_no_folder_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DataFileNotFoundError, match=r"\$TEXTGYM_SHARED_DATA is '.*nowhere', which is not a folder"):
        default_data_dir()


def test_unset_it_is_shared_data_beside_the_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)  # not from the working directory: from the repository
    beside = (Path(__file__).resolve().parents[3] / "shared" / "data").resolve()
    assert default_data_dir() == (beside if beside.is_dir() else None)
    (tmp_path / "work").mkdir()
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "work")  # the working directory's ../shared/data comes first
    assert default_data_dir() == (tmp_path / "shared" / "data").resolve()
