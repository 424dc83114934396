"""The FAQ entries of the content library, and the system messages (which live in the core)."""

from __future__ import annotations

import functools
from pathlib import Path

from engine.content.library import ContentLibrary
from engine.content.models import FaqEntry
from engine.core.system_texts import help_text, late_reply_text, opt_in_text, opt_out_text

__all__ = ["faq_entries", "help_text", "late_reply_text", "opt_in_text", "opt_out_text"]


@functools.lru_cache(maxsize=4)
def _faq(root: str) -> tuple[FaqEntry, ...]:
    library, _ = ContentLibrary.load(Path(root))
    return tuple(library.faq.entries)


def faq_entries(content_dir: Path) -> list[FaqEntry]:
    """The FAQ of the content library, read once per process."""
    return list(_faq(str(content_dir)))
