"""Words of the learner-facing pages: French by default, English for ``en`` learners."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "lang": "fr",
        "answer_title": "Votre réponse",
        "send": "Envoyer",
        "yes": "Oui",
        "no": "Non",
        "text_label": "Votre réponse",
        "invalid_answer": "Choisissez une des réponses proposées.",
        "empty_text": "Écrivez votre réponse avant d’envoyer.",
        "thanks_title": "Merci !",
        "right_title": "Bonne réponse !",
        "wrong_title": "Pas tout à fait",
        "thanks_body": "Votre réponse est bien enregistrée. Vous recevrez la suite par message.",
        "answered_title": "Déjà répondu",
        "answered_body": "Cette question a déjà reçu votre réponse. Merci !",
        "closed_title": "Question close",
        "closed_body": "Le délai pour répondre à cette question est passé.",
        "expired_title": "Lien expiré",
        "expired_body": "Ce lien n’est plus valable. Répondez directement au dernier message reçu.",
        "invalid_title": "Lien invalide",
        "invalid_body": "Ce lien est incomplet ou erroné. Vérifiez qu’il a été copié en entier.",
        "missing_title": "Question introuvable",
        "missing_body": "Cette question n’existe plus.",
        "unsub_title": "Se désabonner des e-mails",
        "unsub_body": "Vous ne recevrez plus nos e-mails de suivi de formation.",
        "unsub_button": "Confirmer le désabonnement",
        "unsub_done_title": "Désabonnement confirmé",
        "unsub_done_body": "Vous ne recevrez plus nos e-mails. Vous pouvez fermer cette page.",
        "unsub_already": "Vous étiez déjà désabonné(e) : aucun e-mail ne vous sera envoyé.",
        "error_title": "Service momentanément indisponible",
        "error_body": "Réessayez dans quelques minutes.",
    },
    "en": {
        "lang": "en",
        "answer_title": "Your answer",
        "send": "Send",
        "yes": "Yes",
        "no": "No",
        "text_label": "Your answer",
        "invalid_answer": "Please pick one of the answers shown.",
        "empty_text": "Please write your answer before sending.",
        "thanks_title": "Thank you!",
        "right_title": "Right answer!",
        "wrong_title": "Not quite",
        "thanks_body": "Your answer has been recorded. What comes next will reach you by message.",
        "answered_title": "Already answered",
        "answered_body": "You have already answered this question. Thank you!",
        "closed_title": "Question closed",
        "closed_body": "The time to answer this question is over.",
        "expired_title": "Link expired",
        "expired_body": "This link is no longer valid. Reply to the latest message instead.",
        "invalid_title": "Invalid link",
        "invalid_body": "This link is incomplete or wrong. Check that it was copied in full.",
        "missing_title": "Question not found",
        "missing_body": "This question no longer exists.",
        "unsub_title": "Unsubscribe from emails",
        "unsub_body": "You will no longer receive our training follow-up emails.",
        "unsub_button": "Confirm",
        "unsub_done_title": "Unsubscribed",
        "unsub_done_body": "You will receive no more emails from us. You may close this page.",
        "unsub_already": "You had already unsubscribed: no email will be sent to you.",
        "error_title": "Service temporarily unavailable",
        "error_body": "Please try again in a few minutes.",
    },
}


def texts_for(locale: str | None) -> dict[str, str]:
    """English for ``en``/``en-GB``..., French for everything else (the default audience)."""
    return TEXTS["en"] if (locale or "").lower().startswith("en") else TEXTS["fr"]


def locale_from_header(accept_language: str | None) -> str:
    """Before the learner is known (bad link): the browser's first language, fr or en."""
    first = (accept_language or "").split(",", 1)[0].strip().lower()
    return "en" if first.startswith("en") else "fr"
