"""Benchmarks are not timed here: this only checks that each still runs (quick mode)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_inbox_benchmark_runs():
    result = subprocess.run([sys.executable, "bench/inbox.py", "--quick"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "built 1000 requests" in result.stdout
    assert "/desk/?tab=queue" in result.stdout
