"""What the tools tell a designer: positioned findings, one YAML reader, one pydantic-error mapper.

Both ``engine.campaign`` and ``engine.content`` import from here; this package
imports neither of them (only pydantic and ruamel.yaml), so there is no cycle.
"""

from engine.diagnostics.model import Diagnostic, Severity, did_you_mean, has_errors

__all__ = ["Diagnostic", "Severity", "did_you_mean", "has_errors"]
