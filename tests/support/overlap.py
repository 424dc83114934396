"""The reported "answer lost" scenario's campaign: a three-question quiz, then a spaced review
due the same afternoon, so the review comes due while the quiz can still be answered. Shared by
the in-process test and the end-to-end test through the running app and a real worker."""

from __future__ import annotations


def overlap_campaign(name: str) -> str:
    """The campaign's YAML under ``name`` (each test writes its own file)."""
    return f"""
campaign: {name}
title: Overlap
defaults: {{channels: [sms], window: {{from: "09:00", to: "19:00"}}}}
steps:
  - id: quiz
    at: +1d 10:00
    quiz: management/quiz-sbi
    ask: 3
  - id: revisions
    review: management/quiz-sbi
    from: +1d 15:00
    until: +20d
    per_week: 1
"""
