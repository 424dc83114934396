"""The demo's prepared data (``ancrage demo --no-run``), made once per test run.

Preparing it replays the demo's past sessions through the real engine, the most
expensive setup of the suite; the tests that read it (the command's own test and
the Qualiopi pack on the demo's data) each get a private copy of the one folder,
so none sees what another wrote.

Usage: ``tests/conftest.py`` imports the fixtures; a test asks for ``demo_data``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["demo_data", "demo_data_template"]

#: Attendees per past session: enough for every page and register to have answers.
HISTORY_LEARNERS = 2


@pytest.fixture(scope="session")
def demo_data_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``demo --no-run`` run once for the whole run, xdist's processes included (the first one to
    ask makes it under a lock, the others wait and read it): the folder, never written to afterwards."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this run's folder, common to xdist's processes (popen-gw0, ...)
    folder = shared / "demo-data" / "demo"
    with (shared / "demo-data.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder.parent / "stdout.txt").exists():
            shutil.rmtree(folder.parent, ignore_errors=True)
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            result = subprocess.run(
                [sys.executable, "-m", "engine.cli", "demo", "--no-run", "--data-dir", str(folder),
                 "--history-learners", str(HISTORY_LEARNERS)],
                capture_output=True, text=True, timeout=240, env=env, check=False)
            assert result.returncode == 0, result.stderr[-3000:]
            (folder.parent / "stdout.txt").write_text(result.stdout, encoding="utf-8")
    return folder


@pytest.fixture
def demo_data(demo_data_template: Path, tmp_path: Path) -> tuple[Path, str]:
    """A private copy of the prepared demo folder and what the command printed."""
    folder = tmp_path / "demo"
    shutil.copytree(demo_data_template, folder)
    return folder, (demo_data_template.parent / "stdout.txt").read_text(encoding="utf-8")
