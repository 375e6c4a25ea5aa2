"""The sandbox benchmark runs end to end (its figures are reported, never asserted)."""

from __future__ import annotations

from benchmarks.throughput.sandbox import main, run


def test_sandbox_benchmark_runs(capsys):
    result = run(count=6, workers=1)
    assert result["programs"] == 6 and result["sandbox_per_s"] > 0 and result["plain_subprocess_per_s"] > 0
    assert main(["--programs", "4", "--workers", "1"]) == 0
    assert "ratio (sandbox / plain)" in capsys.readouterr().out
