"""English for the quality pages' French texts (registers, testimonials, publication, pack).

The templates write French and call ``_()``; :mod:`webhooks.dashboard.texts` merges this table
into the dashboard's. The register labels (statuses, sources, categories, consent scopes) and the
indicators' names come from the engine in French, so their English is here too: an English
reader never sees a French label or an internal code.
"""

from __future__ import annotations

_PAGES: dict[str, str] = {
    # titles and tabs
    "Registre d'amélioration": "Improvement register", "Registre des réclamations": "Complaints register",
    "Témoignages": "Testimonials", "Indicateurs publiés": "Published indicators",
    "Dossier de preuves Qualiopi": "Qualiopi evidence pack", "Améliorations": "Improvements",
    "Réclamations": "Complaints", "Publication": "Publication", "Dossier Qualiopi": "Qualiopi pack",
    "Qualité": "Quality", "N°": "No.", "n°": "no. ",
    # filters and tables
    "Du": "From", "Au": "To", "du": "from", "au": "to", "Statut": "Status", "Tous": "All", "Source": "Source",
    "demandes": "requests", "actions": "actions", "Reçue le": "Received", "Stagiaire": "Learner",
    "Accusé de réception": "Acknowledged", "Première réponse": "First answer", "Résolue le": "Resolved",
    "Action": "Action", "Aucune demande sur la période.": "No request in this period.",
    "Constat": "Finding", "Décision": "Decision", "Responsable": "Owner", "Efficacité": "Effectiveness",
    "en retard": "overdue", "Changer": "Change", "efficace": "effective", "non efficace": "not effective",
    "Revue d'efficacité": "Effectiveness review", "Aucune action.": "No action.", "Nouvelle action": "New action",
    "N° de la source (demande, alerte)": "Source number (request, alert)",
    "Référence (critère, question)": "Reference (criterion, question)", "Créer": "Create",
    "Extrait HTML pour le site (approuvés, diffusion web)": "HTML snippet for the website (approved, web use)",
    "Auteur": "Author", "Témoignage": "Testimonial", "Diffusion": "Use", "Consentement le": "Consent given",
    "Approuvé": "Approved", "Approuver": "Approve", "Aucun témoignage avec consentement.": "No testimonial with consent.",
    "Les indicateurs cochés paraissent sur": "The ticked indicators appear on",
    ", jamais calculés sur moins de": ", never computed on fewer than", "répondants.": "respondents.",
    "Le dossier réunit, pour la période choisie, les indicateurs 2, 30, 31 et 32 : une synthèse PDF, un classeur "
    "XLSX (réponses, indicateurs, sollicitations et relances, réclamations, améliorations, consentements) et les "
    "mêmes tables en CSV.":
        "For the chosen period, the pack gathers indicators 2, 30, 31 and 32: a PDF summary, an XLSX workbook "
        "(answers, indicators, surveys and reminders sent, complaints, improvements, consents) and the same "
        "tables as CSV. The files themselves are in French, for the auditor.",
    "Session (facultatif)": "Session (optional)",
    "Télécharger le dossier (ZIP : PDF, XLSX, CSV)": "Download the pack (ZIP: PDF, XLSX, CSV)",
}

#: The engine's French register labels (engine/reports/evidence/tables.py).
_REGISTERS: dict[str, str] = {
    "Prévue": "Planned", "En cours": "In progress", "Réalisée": "Done", "Abandonnée": "Cancelled",
    "Demande ou réclamation": "Request or complaint", "Alerte": "Alert", "Critère en baisse": "Falling criterion",
    "Verbatim": "Comment", "Audit": "Audit", "Autre": "Other",
    "Question": "Question", "Difficulté": "Difficulty", "Réclamation": "Complaint",
    "Usage interne": "Internal use", "Site web et supports": "Website and documents",
}

#: The indicators' French names (engine/core/indicators.py), for the publication choice.
_INDICATORS: dict[str, str] = {
    "Satisfaction (notes 4 et 5)": "Satisfaction (ratings 4 and 5)",
    "Satisfaction — Accueil et organisation": "Satisfaction — Welcome and organisation",
    "Satisfaction — Contenu": "Satisfaction — Content",
    "Satisfaction — Équipe pédagogique": "Satisfaction — Teaching team",
    "Satisfaction — Moyens mis à disposition": "Satisfaction — Resources provided",
    "Satisfaction — Accompagnement": "Satisfaction — Support",
    "Note moyenne — Accueil et organisation": "Mean rating — Welcome and organisation",
    "Note moyenne — Contenu": "Mean rating — Content",
    "Note moyenne — Équipe pédagogique": "Mean rating — Teaching team",
    "Note moyenne — Moyens mis à disposition": "Mean rating — Resources provided",
    "Note moyenne — Accompagnement": "Mean rating — Support",
    "NPS à chaud": "NPS (hot survey)", "NPS à froid": "NPS (cold survey)",
    "Taux de réponse au questionnaire à chaud": "Hot survey response rate",
    "Taux de réponse au questionnaire à froid": "Cold survey response rate",
    "Taux de réponse, toutes questions (comme le tableau de bord)":
        "Response rate, all questions (as on the dashboard)",
    "Demandes traitées par un humain sous 48 h": "Requests answered by a person within 48 h",
    "Délai médian de première réponse": "Median time to first answer",
    "Réclamations pour 100 stagiaires": "Complaints per 100 learners",
    "Abandon du suivi (arrêt ou STOP avant la fin)": "Follow-up drop-out (stopped or STOP before the end)",
    "Taux d'achèvement de la formation": "Training completion rate",
    "Taux d'abandon de la formation": "Training abandonment rate",
    "Mise en pratique déclarée à froid": "Declared application (cold survey)",
    "Résultats concrets déclarés à froid": "Concrete results declared (cold survey)",
    "Réinscription des stagiaires (12 mois)": "Learners coming back (12 months)",
    "Réinscription des entreprises (12 mois)": "Client companies coming back (12 months)",
    "Réponses justes aux quiz et révisions (toutes tentatives)": "Right quiz and review answers (every attempt)",
    "Rétention estimée": "Estimated retention",
}

QUALITY_ENGLISH: dict[str, str] = {**_PAGES, **_REGISTERS, **_INDICATORS}
