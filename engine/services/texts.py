"""System messages learners get (opt-out confirmation, help...), French first, GSM-7 only."""

from __future__ import annotations

import functools
from pathlib import Path

from engine.content.library import ContentLibrary
from engine.content.models import FaqEntry

_TEXTS = {
    "opt_out": {
        "fr": "Vous ne recevrez plus de messages sur ce canal. Pour les reactiver, repondez START.",
        "en": "You will not receive any more messages on this channel. Reply START to resume.",
    },
    "opt_in": {
        "fr": "C'est note, vous recevez de nouveau nos messages. Repondez STOP pour les arreter.",
        "en": "Noted: you will receive our messages again. Reply STOP to stop them.",
    },
    "help": {
        "fr": "Suivi de formation : repondez aux questions par une lettre ou un chiffre. "
              "Ecrivez votre question, un formateur vous repond. STOP pour ne plus recevoir de SMS.",
        "en": "Training follow-up: answer questions with a letter or a number. "
              "Write your question and a trainer will answer. STOP to opt out.",
    },
    "late": {
        "fr": "Merci ! Cette question est close, mais votre reponse est notee. A bientot pour la suite.",
        "en": "Thank you! This question is closed, but your answer is noted. More soon.",
    },
}


def _text(key: str, locale: str) -> str:
    return _TEXTS[key].get(locale, _TEXTS[key]["fr"])


def opt_out_text(locale: str) -> str:
    return _text("opt_out", locale)


def opt_in_text(locale: str) -> str:
    return _text("opt_in", locale)


def help_text(locale: str) -> str:
    return _text("help", locale)


def late_reply_text(locale: str) -> str:
    return _text("late", locale)


@functools.lru_cache(maxsize=4)
def _faq(root: str) -> tuple[FaqEntry, ...]:
    library, _ = ContentLibrary.load(Path(root))
    return tuple(library.faq.entries)


def faq_entries(content_dir: Path) -> list[FaqEntry]:
    """The FAQ of the content library, read once per process."""
    return list(_faq(str(content_dir)))
