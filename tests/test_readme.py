"""The README's tour runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "reference: 1.000" in out and "(144,) Discrete(2048)" in out


def test_readme_starts_with_the_two_commands():
    text = README.read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S).group(1).splitlines()
    assert first_block[0].startswith('pip install torch==2.13.0 && pip install -e ".[dev]" && textgym train')
    assert first_block[1].startswith("python -m pytest")


def test_readme_outside_agent_example_plugs_into_the_leaderboard(tmp_path, monkeypatch):
    from benchmarks.leaderboard import get_suite, run_leaderboard

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    (example,) = [b for b in blocks if b.startswith("# my_agents.py")]
    assert len(example.splitlines()) <= 21
    (tmp_path / "my_agents.py").write_text(example, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    suite = get_suite("textgym-v0-smoke").select(["translate"])
    records = run_leaderboard(suite, ["my_agents:a2c", "my_agents:first_token"], [0], tmp_path / "out", progress=False)
    a2c, first = records
    assert a2c["budget"]["trained_tokens"] >= suite.tasks[0].budget.rl_tokens and len(a2c["curve"]) == 3
    assert first["curve"] == [] and first["mean_reward"] < 0.2
    assert "my_agents:first_token" in (tmp_path / "out" / "leaderboard.md").read_text()

