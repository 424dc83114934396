"""SMS encoding and segment maths (GSM 03.38), so designers see what a text really costs.

One typographic apostrophe (’) or a non-breaking space before "?" is enough to
switch a whole SMS from GSM-7 (160 characters a segment) to UCS-2 (70), which
more than doubles the bill on French texts. :func:`sms_info` says which
encoding a text needs and how many segments it takes; :func:`smart_encode`
rewrites typography into GSM-7 equivalents, like Twilio's "smart encoding".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Encoding = Literal["gsm7", "ucs2"]

# GSM 03.38 default alphabet (basic table), in code order 0x00-0x7F; 0x1B (ESC) is omitted
# because it introduces the extension table and is never a character on its own.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each of these costs two septets (ESC + code).
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEGMENT = {"gsm7": 160, "ucs2": 70}
MULTIPART_SEGMENT = {"gsm7": 153, "ucs2": 67}  # the rest carries the concatenation header

# Typographic characters and their GSM-7 stand-ins (Twilio smart-encoding style, French first).
# fmt: off
_SMART_MAP: dict[str, str] = {
    "\u2019": "'", "\u2018": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'",
    "\u00b4": "'", "`": "'",
    "\u00ab": '"', "\u00bb": '"', "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2039": "'", "\u203a": "'",
    "\u2026": "...",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2022": "-", "\u00b7": "-",
    "\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2002": " ", "\u2003": " ", "\u2007": " ",
    "\u2008": " ", "\u200a": " ", "\t": " ",
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "œ": "oe", "Œ": "OE",
    "â": "a", "á": "a", "ã": "a", "Â": "A", "À": "A", "Á": "A", "Ã": "A",
    "ê": "e", "ë": "e", "Ê": "E", "Ë": "E", "È": "E",
    "î": "i", "ï": "i", "í": "i", "Î": "I", "Ï": "I", "Í": "I", "Ì": "I",
    "ô": "o", "ó": "o", "õ": "o", "Ô": "O", "Ó": "O", "Ò": "O", "Õ": "O",
    "û": "u", "ú": "u", "Û": "U", "Ú": "U", "Ù": "U",
    "ÿ": "y", "Ÿ": "Y", "ý": "y", "Ý": "Y",
    "ç": "c",
    "\u2122": "TM", "\u00ae": "(R)", "\u00a9": "(C)", "\u00b0": "o",
    "\u00bd": "1/2", "\u00bc": "1/4", "\u00be": "3/4",
}
# fmt: on
# French spacing inside guillemets is typographic: « Bonjour » becomes "Bonjour", not " Bonjour ".
_GUILLEMETS = re.compile("\u00ab[ \u00a0\u202f]?|[ \u00a0\u202f]?\u00bb")
_SPACED_PUNCTUATION = re.compile("[\u00a0\u202f]([;:!?])")


@dataclass(frozen=True)
class SmsInfo:
    """What a text costs as an SMS.

    ``length`` counts septets for GSM-7 (extension characters count two) and UTF-16
    code units for UCS-2 (an emoji counts two). ``ucs2_chars`` lists, in order of
    first appearance, the characters that force UCS-2.
    """

    encoding: Encoding
    length: int
    segments: int
    ucs2_chars: tuple[str, ...] = ()

    @property
    def per_segment(self) -> int:
        """Capacity of one segment for this text (single or multipart)."""
        kind = "single" if self.segments <= 1 else "multi"
        return (SINGLE_SEGMENT if kind == "single" else MULTIPART_SEGMENT)[self.encoding]


def is_gsm7(char: str) -> bool:
    return char in GSM7_BASIC or char in GSM7_EXTENSION


def gsm_equivalent(char: str) -> str | None:
    """The GSM-7 text :func:`smart_encode` puts in place of ``char``, or None if it has none."""
    return _SMART_MAP.get(char)


def _unit_weights(text: str, encoding: Encoding) -> list[int]:
    """Per character, the units it takes; a unit never straddles two segments."""
    if encoding == "gsm7":
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _count_segments(weights: list[int], encoding: Encoding) -> int:
    total = sum(weights)
    if total == 0:
        return 0
    if total <= SINGLE_SEGMENT[encoding]:
        return 1
    # Phones never split an escape sequence or a surrogate pair across two parts,
    # so pack greedily instead of dividing.
    capacity = MULTIPART_SEGMENT[encoding]
    segments, used = 1, 0
    for weight in weights:
        if used + weight > capacity:
            segments, used = segments + 1, 0
        used += weight
    return segments


def sms_info(text: str) -> SmsInfo:
    """Encoding, length and segment count of ``text`` sent as one SMS (0 segments when empty)."""
    ucs2_chars = tuple(dict.fromkeys(ch for ch in text if not is_gsm7(ch)))
    encoding: Encoding = "ucs2" if ucs2_chars else "gsm7"
    weights = _unit_weights(text, encoding)
    return SmsInfo(encoding, sum(weights), _count_segments(weights, encoding), ucs2_chars)


def smart_encode(text: str) -> str:
    """Replace French typography with GSM-7 look-alikes so the SMS stays at 160 a segment.

    Characters with no GSM-7 equivalent (emoji, most non-Latin scripts) are kept:
    the text then stays UCS-2 and :func:`sms_info` still says so.
    """
    text = _GUILLEMETS.sub('"', text)
    text = _SPACED_PUNCTUATION.sub(r" \1", text)
    return "".join(_SMART_MAP.get(ch, ch) if not is_gsm7(ch) else ch for ch in text)


def describe_char(char: str) -> str:
    """``’ (U+2019)``: a character and its code point, readable in a diagnostic."""
    shown = {"\u00a0": "non-breaking space", "\u202f": "narrow no-break space"}.get(char, char)
    return f"{shown} (U+{ord(char):04X})"


def cost_hint(info: SmsInfo) -> str:
    """One line for designers, e.g. ``2 segments, UCS-2, 95 characters (67 a segment)``."""
    label = "GSM-7" if info.encoding == "gsm7" else "UCS-2"
    unit = "segment" if info.segments == 1 else "segments"
    return (
        f"{info.segments} {unit}, {label}, {info.length} characters ({info.per_segment} a segment)"
    )
