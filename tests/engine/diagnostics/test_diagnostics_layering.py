"""``engine.diagnostics`` sits below campaigns and content: it imports neither, so both import it."""

from __future__ import annotations

import json
import subprocess
import sys

from engine.settings import PROJECT_ROOT

PROBE = """
import importlib, json, sys
for name in ("engine.diagnostics", "engine.diagnostics.yaml_reader", "engine.diagnostics.pydantic_errors",
             "engine.diagnostics.yaml_words"):
    importlib.import_module(name)
print(json.dumps(sorted(n for n in sys.modules if n.startswith("engine."))))
"""


def test_diagnostics_import_neither_campaign_nor_content() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    loaded = json.loads(done.stdout)
    assert "engine.diagnostics.pydantic_errors" in loaded
    assert [n for n in loaded if not n.startswith("engine.diagnostics")] == []


def test_one_yaml_reader() -> None:
    readers = sorted(str(p.relative_to(PROJECT_ROOT)) for p in (PROJECT_ROOT / "engine").rglob("*.py")
                     if "from ruamel" in p.read_text(encoding="utf-8"))
    assert readers == ["engine/diagnostics/yaml_reader.py", "engine/diagnostics/yaml_words.py"]
