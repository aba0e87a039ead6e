"""Benchmarks are not timed here: this only checks that each still runs (quick mode)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick_run(script: str) -> str:
    """Run bench/<script> --quick; its output."""
    result = subprocess.run([sys.executable, f"bench/{script}", "--quick"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_inbox_benchmark_runs():
    output = quick_run("inbox.py")
    assert "built 1000 requests" in output
    assert "/desk/?tab=queue" in output


def test_the_poster_benchmark_runs():
    output = quick_run("posters.py")
    assert "built 50 posters" in output
    assert "/posters" in output and "QR SVG cache: 50 encoded" in output


def test_the_oversight_benchmark_runs():
    output = quick_run("oversight.py")
    assert "built 2000 requests" in output
    assert "monthly report" in output and "province" in output
