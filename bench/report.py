"""Generated sections of docs/benchmarks.md: each benchmark's figures between
`<!-- begin generated: NAME -->` and `<!-- end generated: NAME -->`, with the machine, the
date, the load average and the command. Prose outside the markers is never touched.

A benchmark that prints markdown calls `write_doc(name, markdown)` itself (bench/pages.py,
bench/throughput.py). Any other runs under this wrapper, which keeps its printed lines:

    .venv/bin/python bench/report.py NAME -- .venv/bin/python bench/inbox.py --requests 100000
"""

import os
import platform
import re
import shlex
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = Path(os.environ.get("BENCH_DOC") or ROOT / "docs" / "benchmarks.md")  # BENCH_DOC: try it on a copy


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def postgresql_version(database_url: str | None = None) -> str:
    """The server's version when a PostgreSQL URL is given, else the client's (psql), else '-'."""
    if database_url and database_url.startswith("postgresql"):
        try:
            import sqlalchemy as sa

            engine = sa.create_engine(database_url)
            with engine.connect() as connection:
                version = connection.execute(sa.text("SHOW server_version")).scalar()
            engine.dispose()
            return str(version).split()[0]
        except Exception:  # noqa: BLE001 - a version line must never stop a benchmark
            pass
    try:
        out = subprocess.run(["psql", "--version"], capture_output=True, text=True, timeout=5).stdout
        return out.split()[2] + " (psql client)"
    except (OSError, IndexError, subprocess.SubprocessError):
        return "-"


def load_average() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def machine(database_url: str | None = None) -> str:
    return (f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, PostgreSQL {postgresql_version(database_url)}")


def footer(command: list[str], *, load_before: str, seconds: float, database_url: str | None = None) -> str:
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"Machine: {machine(database_url)}. Date: {date}. Load average (1 / 5 / 15 min) before: "
            f"{load_before}, after: {load_average()}. Took {seconds:.0f} s.\n\n"
            f"```\n{_shown(command)}\n```\n")


def _shown(command: list[str]) -> str:
    """The command as typed from the project folder."""
    parts = []
    for part in command:
        if part == sys.executable or part.endswith("/.venv/bin/python"):
            part = ".venv/bin/python"
        parts.append(part)
    return shlex.join(parts)


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with the block NAME holding `body`; a missing block is added at the end."""
    begin, end = f"<!-- begin generated: {name} -->", f"<!-- end generated: {name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        return pattern.sub(lambda _match: block, text, count=1)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_doc(name: str, markdown: str, *, doc: Path = DOC) -> None:
    """Put `markdown` in the generated block NAME of the doc (read, replace, write at once)."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Benchmarks\n"
    updated = replace_block(text, name, markdown)
    temporary = doc.with_suffix(".md.tmp")
    temporary.write_text(updated, encoding="utf-8")
    os.replace(temporary, doc)
    print(f"wrote the '{name}' block of {doc}")


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    name, command = argv[0], argv[2:]
    load_before, started = load_average(), time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines = []
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    if process.wait() != 0:
        print(f"{name}: the benchmark failed (exit {process.returncode}); the doc is left as it was", file=sys.stderr)
        return process.returncode
    url = next((command[i + 1] for i, part in enumerate(command[:-1]) if part == "--database-url"), None)
    body = "```\n" + "\n".join(lines) + "\n```\n\n" + footer(command, load_before=load_before,
                                                            seconds=time.perf_counter() - started, database_url=url)
    write_doc(name, body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
