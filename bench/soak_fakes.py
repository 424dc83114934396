"""The endurance run's providers in their own process: fake Twilio, FCM and SMTP, with faults.

Run by ``bench/soak.py``. In the driver's process, these servers shared one
interpreter (one GIL) with the ticker, the simulated learners and the checks:
under load, provider answers and status callbacks waited behind the driver's
own work, sends timed out that the fake had accepted, and a run's outcome
depended on how busy the machine was. Here they have a process of their own.

Protocol: prints one JSON line with the servers' addresses, then reads stdin.
``quiet`` stops replaying status callbacks (the chaos is over); end of input
writes what the providers saw (accepted sends per delivery id, fault counts,
callback answers) to ``--out`` as JSON and exits.

The fake Twilio dates its messages with the run's warped clock (``ANCRAGE_CLOCK_*``),
as the real one dates them with the time the engine lives in.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(auth_token).compute_signature(url, params))


async def replay_callbacks(twilio: Any, auth_token: str, quiet: asyncio.Event, counts: Counter[str]) -> None:
    """Re-posts some status callbacks the fake already sent, late: out of order and twice."""
    import httpx

    rng = random.Random(11)
    seen = 0
    async with httpx.AsyncClient(timeout=10) as client:
        while not quiet.is_set():
            attempts = list(twilio.callbacks)[seen:]
            seen += len(attempts)
            for attempt in attempts:
                if rng.random() < 0.05:
                    params = dict(attempt.params)
                    if params.get("MessageStatus") in ("delivered", "undelivered", "failed"):
                        params["MessageStatus"] = "sent"  # an older state arriving after the final one
                        counts["out of order"] += 1
                    else:
                        counts["repeated"] += 1
                    with contextlib.suppress(httpx.HTTPError):
                        await client.post(attempt.url, data=params,
                                          headers={"X-Twilio-Signature": sign(auth_token, attempt.url, params)})
            await asyncio.sleep(0.5)


def summary(twilio: Any, fcm: Any, smtp: Any, faults: list[Any], replayed: Counter[str]) -> dict[str, Any]:
    per: Counter[int] = Counter()
    copies: dict[int, list[dict[str, str]]] = {}
    for message in list(twilio.messages):
        delivery = int(parse_qs(urlsplit(message.get("status_callback") or "").query)["d"][0])
        per[delivery] += 1
        copies.setdefault(delivery, []).append({"created": message["date_created"], "sid": message["sid"],
                                                "body": message["body"][:60]})
    for push in list(fcm.sent):
        per[int(push["message"]["data"]["delivery_id"])] += 1
    for mail in list(smtp.received):
        per[int(mail.message["X-Ancrage-Delivery"])] += 1
    injected: Counter[str] = Counter()
    for fault in faults:
        injected.update({k: v for k, v in fault.counts.items() if k != "ok"})
    return {"per_delivery": {str(k): v for k, v in per.items()},
            # Each copy of an SMS accepted twice: when the fake created it (virtual time) and its start,
            # to line up with the delivery's audit trail (``--keep``).
            "sms_twice": {str(k): copies[k] for k, n in per.items() if n > 1 and k in copies},
            "counts": {"sms": len(twilio.messages), "push": len(fcm.sent), "email": len(smtp.received),
                       "faults injected": dict(injected)},
            "callbacks": dict(Counter(str(attempt.status_code) for attempt in list(twilio.callbacks))),
            "callbacks_total": len(twilio.callbacks), "replayed": dict(replayed)}


async def serve(args: argparse.Namespace) -> None:
    import os

    from soak_clock import from_env

    from engine.clock import clock_from_env
    from engine.fakes.fake_fcm import FakeFcm
    from engine.fakes.fake_smtp import FakeSmtp
    from engine.fakes.fake_twilio import FakeTwilio
    from engine.fakes.faults import Faults
    from engine.fakes.server import run_in_thread

    twilio = FakeTwilio(account_sid=args.account_sid, auth_token=args.auth_token, send_callbacks=True)
    clock = from_env() or clock_from_env(dict(os.environ))
    if clock is not None:
        twilio.clock = clock
    fcm = FakeFcm()
    smtp = FakeSmtp()
    faults = [Faults(twilio.app, seed=1, hold_seconds=30), Faults(fcm.app, seed=2, hold_seconds=30)]
    quiet = asyncio.Event()
    replayed: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    with run_in_thread(faults[0]) as twilio_url, run_in_thread(faults[1]) as fcm_url, \
            smtp.running() as (smtp_host, smtp_port):
        print(json.dumps({"twilio": twilio_url, "fcm": fcm_url, "smtp": [smtp_host, smtp_port]}), flush=True)
        replay = asyncio.create_task(replay_callbacks(twilio, args.auth_token, quiet, replayed))
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            if line.strip() == "quiet":
                quiet.set()
        quiet.set()
        replay.cancel()
        await asyncio.gather(replay, return_exceptions=True)
        Path(args.out).write_text(json.dumps(summary(twilio, fcm, smtp, faults, replayed)), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--account-sid", required=True)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--out", required=True)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
