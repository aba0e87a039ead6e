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
    assert "dashboard, own dates, 30 days" in output
    assert "flask refresh-dashboards: " in output
    assert all(f"province dashboard, stored, {key} " in output for key in ("last-12-months", "this-month", "last-month"))


def test_the_pages_benchmark_runs_and_checks_its_budgets():
    output = quick_run("pages.py")
    assert "QR landing page, deputy's code" in output and "file a request, no photo (POST)" in output
    assert "request card" in output
    verdicts = [line for line in output.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdicts) == 10  # two landing pages shared and rendered, the filing, four inbox tabs, the card


def test_the_reach_benchmark_runs_both_sides_and_the_deadline_job():
    output = quick_run("reach.py")
    assert "pair 1, A:" in output and "pair 1, B:" in output
    assert "| first run of the day |" in output and "| second run, same day | " in output
    # The stand-ins heard from B: its SMS and robots really went out.
    assert "stand-ins received: {'sms': 0" not in output


def test_a_generated_block_is_replaced_and_the_prose_around_it_kept(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    import report

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nHand-written prose.\n", encoding="utf-8")
    report.write_doc("pages", "| first | run |", doc=doc)
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text + "\nMore prose after the block.\n", encoding="utf-8")
    report.write_doc("pages", "| second | run |", doc=doc)
    report.write_doc("throughput", "rps", doc=doc)
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nHand-written prose.\n")
    assert "More prose after the block." in text
    assert "| second | run |" in text and "| first | run |" not in text
    assert text.count("<!-- begin generated: pages -->") == 1 and text.count("<!-- end generated: pages -->") == 1
    assert text.index("More prose after the block.") < text.index("<!-- begin generated: throughput -->")


def test_the_throughput_benchmark_runs():
    output = quick_run("throughput.py")
    assert "bare Flask hello:" in output and "QR landing page" in output
    assert "filing without a photo:" in output
    assert "worker RSS after all that:" in output
    assert sum(line.startswith(("- PASS", "- FAIL")) for line in output.splitlines()) == 3
