"""System messages learners get (opt-out confirmation, help...), French first, GSM-7 only.

They live in the core because the engine decides which one a reply deserves; the shell
only sends what an event carries.
"""

from __future__ import annotations

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
    "confirm_stop": {
        "fr": "Souhaitez-vous ne plus recevoir nos messages sur ce canal ? Repondez OUI pour arreter, "
              "NON pour continuer.",
        "en": "Do you want to stop receiving our messages on this channel? Reply YES to stop, NO to go on.",
    },
    "stop_declined": {
        "fr": "C'est note, vous continuez a recevoir nos messages.",
        "en": "Noted: you will keep receiving our messages.",
    },
    # Accents GSM-7 has (é è à ù) only: no ç, no typographic apostrophe.
    "ticket_ack": {
        "fr": "Bien arrivé ! Votre message est transmis à votre formateur, qui vous répondra sous {hours} h.",
        "en": "Received! Your message has been passed on to your trainer, who will answer within {hours} hours.",
    },
    "ticket_ack_after_faq": {
        "fr": "Votre message est aussi transmis à votre formateur, qui vous répondra sous {hours} h.",
        "en": "Your message has also been passed on to your trainer, who will answer within {hours} hours.",
    },
    "testimonial_withdrawn": {
        "fr": "C'est noté : votre témoignage est retiré, il ne sera plus diffusé.",
        "en": "Noted: your testimonial is withdrawn and will no longer be shared.",
    },
}  # fmt: skip


def system_text(key: str, locale: str) -> str:
    """One system message in the learner's language (French when it has no translation)."""
    return _TEXTS[key].get(locale, _TEXTS[key]["fr"])


def opt_out_text(locale: str) -> str:
    return system_text("opt_out", locale)


def opt_in_text(locale: str) -> str:
    return system_text("opt_in", locale)


def help_text(locale: str) -> str:
    return system_text("help", locale)


def late_reply_text(locale: str) -> str:
    return system_text("late", locale)
