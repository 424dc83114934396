"""What a worker did between two ticks: one INFO line per tick for the operator.

Counts only, never a phone number, an address or a message text: logs travel
to places personal data must not go.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.services.scheduler import TickReport

FAILED_OUTCOMES = ("retry", "fallback", "failed", "failed_permanent")
NOT_PROCESSED = ("missing", "already processed", "in another batch")


@dataclass
class Activity:
    """Sends and replies counted by the jobs since the last tick line (one per worker process)."""

    sent: int = 0
    failed: int = 0
    replies: int = 0

    def add_sends(self, counts: dict[str, int]) -> None:
        self.sent += counts.get("sent", 0)
        self.failed += sum(counts.get(outcome, 0) for outcome in FAILED_OUTCOMES)

    def add_reply(self, outcome: str) -> None:
        if outcome not in NOT_PROCESSED:
            self.replies += 1

    def tick_line(self, report: TickReport, *, swept: int = 0) -> str:
        """The tick's line, then the counters start again from zero."""
        line = (f"tick: {report.claimed} due, {self.sent} sent, {self.failed} failed, "
                f"{self.replies} replies processed")
        extra = {"sessions ended": report.sessions_ended, "enrolled": report.enrolled,
                 "caught up": report.caught_up, "requeued": report.requeued,
                 "recovered": report.recovered, "questions expired": report.expired_prompts,
                 "replies swept": swept}
        details = ", ".join(f"{count} {what}" for what, count in extra.items() if count)
        self.sent = self.failed = self.replies = 0
        return f"{line} ({details})" if details else line
