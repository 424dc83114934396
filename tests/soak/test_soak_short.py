"""The endurance run's short version: 200 learners, 6 virtual days, chaos and faults, real processes.

``bench/soak.py`` runs once for the module (about 80 s on these cores); one
test checks that the run exercised the whole stack (messages accepted by the
fakes, answers posted, a worker killed, Redis restarted twice), the other that
every invariant held. The latter fails today (see the reason): it is kept as a
strict xfail so that the day the engine holds them all, the marker must go.
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
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "soak.py"), "--learners", "200", "--days", "6",
                          "--settle", "30", "--json", str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=400)
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    return {"code": run.returncode, "stdout": run.stdout, "results": json.loads(out.read_text(encoding="utf-8"))}


def test_the_run_exercised_the_whole_stack(soak: dict[str, Any]) -> None:
    summary = re.search(r"replies posted (\d+) .* (\d+) worker kills, (\d+) Redis restarts", soak["stdout"])
    assert summary, soak["stdout"][-2000:]
    replies, kills, restarts = map(int, summary.groups())
    assert replies > 50 and kills >= 1 and restarts == 2, summary.group(0)
    accepted = re.search(r"(\d+) accepted by providers \(\{'sms': (\d+), 'push': (\d+)",
                         soak["results"]["no delivery accepted twice"]["detail"])
    assert accepted and int(accepted.group(2)) > 100 and int(accepted.group(3)) > 0, soak["results"]


@pytest.mark.xfail(strict=True, reason=(
    "engine bugs found by the soak, in code being rewritten on other branches (recovery.py, dispatch.py, "
    "inbound.py): under faults and worker kills, deliveries are accepted twice by the fake Twilio (recovery "
    "re-queues a delivery still 'sending' after STALE_AFTER = 5 clock minutes while its provider call is in "
    "flight: find_sent does not see it yet), planned messages go out after a later step, inbound events stay "
    "'received' after Redis restarts and questions stay open past their expiry; see the report"))
def test_every_invariant_holds(soak: dict[str, Any]) -> None:
    failed = {name: r["detail"] for name, r in soak["results"].items() if not r["ok"]}
    assert not failed and soak["code"] == 0, failed
