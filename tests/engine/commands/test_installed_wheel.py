"""A normal (non-editable) install works in an organisation's own folder.

Builds the wheel, installs it into a fresh virtual environment (its dependencies
come from this project's environment through a ``.pth`` line, never from the
network), then ``ancrage init`` a folder and runs validate, preview, simulate and
a short demo there: campaigns, content and ``var/`` are the folder's, the
templates and the examples come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from engine.settings import PROJECT_ROOT


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(PROJECT_ROOT, source, ignore=shutil.ignore_patterns(
        ".venv", ".git", "var", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "tests", "bench"))
    built = _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation", "-q",
                  "-w", str(root / "dist")],
                 cwd=source, env=dict(os.environ))
    assert built.returncode == 0, built.stderr
    wheel = next((root / "dist").glob("ancrage-*.whl"))
    env_dir = root / "env"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                        cwd=root, env=dict(os.environ)).stdout.strip())
    installed_ = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                       str(wheel)], cwd=root, env=dict(os.environ))
    assert installed_.returncode == 0, installed_.stderr
    (purelib / "zz_project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ANCRAGE_") and key not in ("PYTHONPATH", "DATABASE_URL", "REDIS_URL")}
    return env_dir, env


def test_an_installed_wheel_works_in_the_organisations_folder(installed: tuple[Path, dict[str, str]],
                                                              tmp_path: Path) -> None:
    env_dir, env = installed
    ancrage = str(env_dir / "bin" / "ancrage")
    where = _run([str(env_dir / "bin" / "python"), "-c", "import engine; print(engine.__file__)"],
                 cwd=tmp_path, env=env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr

    init = _run([ancrage, "init", "org"], cwd=tmp_path, env=env)
    assert init.returncode == 0, init.stderr
    org = tmp_path / "org"
    assert sorted(p.name for p in (org / "campaigns").glob("*.yaml")) == sorted(
        p.name for p in (PROJECT_ROOT / "campaigns").glob("*.yaml"))
    assert (org / "content" / "faq.yaml").read_text(encoding="utf-8") == (
        PROJECT_ROOT / "content" / "faq.yaml").read_text(encoding="utf-8")
    assert "var/" in (org / ".gitignore").read_text(encoding="utf-8")
    assert (org / "docs" / "campaign.schema.json").is_file()

    validate = _run([ancrage, "validate"], cwd=org, env=env)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    files = int(validate.stdout.strip().splitlines()[-1].split()[0])
    assert files == 5 + sum(1 for p in (org / "content").rglob("*") if p.is_file())
    both = _run([ancrage, "validate", "campaigns", "content"], cwd=org, env=env)
    assert both.returncode == 0 and " 0 error(s)" in both.stdout, both.stdout

    preview = _run([ancrage, "preview", "suivi-standard", "--session-end", "2026-03-27T18:00"], cwd=org, env=env)
    assert preview.returncode == 0 and "quiz" in preview.stdout, preview.stderr
    simulate = _run([ancrage, "simulate", "suivi-standard", "--session-end", "2026-03-27T18:00",
                     "--persona", "assidu"], cwd=org, env=env)
    assert simulate.returncode == 0 and "reply" in simulate.stdout, simulate.stderr

    demo = _run([ancrage, "--root", str(org), "demo", "--stop-at-end", "--days", "1", "--speed", "43200",
                 "--port", "8391", "--history-learners", "0"], cwd=tmp_path, env=env, timeout=90)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "→" in demo.stdout  # something was sent
    assert (org / "var" / "demo").is_dir()
    site = Path(_run([str(env_dir / "bin" / "python"), "-c", "import engine, pathlib; print(pathlib.Path(engine.__file__).parent)"],
                     cwd=tmp_path, env=env).stdout.strip())
    assert not (site / "var").exists() and not (site.parent / "var").exists()
