"""Filing through gunicorn under load with a worker killed half-way: nothing lost, nothing doubled.

Runs bench/loadtest.py in its short mode (10 phones for 10 s, 3 workers) on this run's kind of
database: a fresh SQLite file, or a fresh PostgreSQL schema. The full run is `make loadtest`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _in_ci

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.load


@pytest.fixture
def linux():
    """gunicorn's workers are found through /proc."""
    if not os.path.isdir("/proc/self/task"):
        if _in_ci():
            pytest.fail("CI=true requires the load test, which needs Linux's /proc")
        pytest.skip("the load test finds gunicorn's workers through /proc (Linux only)")


def test_filings_survive_a_killed_worker_without_loss_or_duplicates(linux, test_database):
    result = subprocess.run(
        [sys.executable, "bench/loadtest.py", "--quick", "--json", "--database-url", test_database.new_url()],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )

    assert result.stdout, result.stderr[-3000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["database"] == test_database.kind
    assert report["problems"] == [], report["gunicorn_log_tail"]
    assert result.returncode == 0
    assert report["worker_respawned"]
    # Every phone filed several times, and each filing was answered with its tracking page.
    assert report["answered_303"] == report["filings"] >= 2 * report["clients"]
