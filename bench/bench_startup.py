"""How long `flask --app incubator --help` takes against a bare `python -c "import flask"`.

Run from the repository root:

    .venv/bin/python bench/bench_startup.py              # 15 rounds
    .venv/bin/python bench/bench_startup.py --rounds 30

Each round starts both commands once, in alternating order, so they meet the same machine load;
printed: the median wall time of each, the median CPU time (user + system, less disturbed by
other processes on a busy machine), and the ratios. Target (issue 15): the ratio at most 3.
Two warm-up rounds first, with PYTHONDONTWRITEBYTECODE removed from the environment, so both
commands read cached bytecode as an installed service does. The commands run in a temporary
directory with the checkout on PYTHONPATH; the exit status is 1 if the wall-time ratio is over 3.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 3.0


def _flask_command() -> list[str]:
    script = Path(sys.executable).with_name("flask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "flask"]


def _environment() -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return environment


def _timed(command: list[str], cwd: str, environment: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    arguments = parser.parse_args()

    commands = {
        "python -c 'import flask'": [sys.executable, "-c", "import flask"],
        "flask --app incubator --help": [*_flask_command(), "--app", "incubator", "--help"],
    }
    environment = _environment()
    workdir = tempfile.mkdtemp(prefix="bench-startup-")
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for round_number in range(arguments.rounds + 2):
            order = list(commands.items()) if round_number % 2 == 0 else list(reversed(commands.items()))
            for name, command in order:
                wall, cpu = _timed(command, workdir, environment)
                if round_number >= 2:  # the first two rounds only warm the bytecode and file caches
                    walls[name].append(wall)
                    cpus[name].append(cpu)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    baseline, ours = commands
    print(f"{arguments.rounds} rounds, load average {os.getloadavg()[0]:.2f}")
    print(f"{'command':<32} {'median wall':>12} {'median CPU':>11}")
    for name in commands:
        print(f"{name:<32} {statistics.median(walls[name]) * 1000:>9.0f} ms {statistics.median(cpus[name]) * 1000:>8.0f} ms")
    wall_ratio = statistics.median(walls[ours]) / statistics.median(walls[baseline])
    cpu_ratio = statistics.median(cpus[ours]) / statistics.median(cpus[baseline])
    verdict = "within" if wall_ratio <= TARGET_RATIO else "over"
    print(f"ratio: {wall_ratio:.2f}x wall, {cpu_ratio:.2f}x CPU ({verdict} the {TARGET_RATIO:g}x target)")
    return 0 if wall_ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
