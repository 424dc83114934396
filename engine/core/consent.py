"""A learner who takes back the consent they gave for a testimonial, in words, by reply.

"Je retire mon témoignage", "retirer mon consentement", "supprimez mon avis" withdraw
it at once (the testimonial leaves every export); a message that only mentions a
testimonial ("merci pour le témoignage de Léa") does not. A withdrawal verb and the
thing withdrawn must both be there, in a short message.
"""

from __future__ import annotations

import re

from engine.core.folding import fold

#: Longer messages are questions for the trainers, not a withdrawal.
MAX_CHARS = 160
_VERB = r"(?:retir\w*|supprim\w*|annul\w*|enlev\w*|efface\w*|revoqu\w*|withdraw\w*|remov\w*|delet\w*|revok\w*)"
_THING = r"(?:temoignages?|consentements?|accord|avis|testimonials?|consent|review)"
#: Without a verb before it, only words that cannot mean anything else ("à mon avis" is an opinion).
_STRONG_THING = r"(?:temoignages?|consentements?|testimonials?|consent)"
_PATTERNS = tuple(re.compile(pattern) for pattern in (
    # je retire mon témoignage, retirer mon consentement, supprimez mon avis, annulez mon accord
    r"\b" + _VERB + r" (?:de )?(?:mon|ma|mes|le|la|les|my|the) (?:\w+ ){0,2}?" + _THING + r"\b",
    # mon témoignage : retirez-le, je le retire, à retirer
    r"\b(?:mon|my) " + _STRONG_THING + r"\b.{0,30}\b" + _VERB + r"\b",
))  # fmt: skip


def wants_to_withdraw_testimonial(text: str) -> bool:
    """Whether a message takes back the learner's consent to their testimonial."""
    if len(text) > MAX_CHARS:
        return False
    folded = fold(text)
    return any(pattern.search(folded) for pattern in _PATTERNS)
