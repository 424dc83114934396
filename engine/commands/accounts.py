"""Operators' account commands: dashboard trainers and integration API keys.

``ancrage trainer add`` creates a trainer or quality manager (the first
quality manager of an organisation is made this way); the password comes from
a prompt or from standard input (``--password-stdin``), never from the command
line. ``ancrage apikey create`` prints the key once; only its hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlmodel.ext.asyncio.session import AsyncSession

from engine.settings import Settings

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Commands) -> None:
    trainer = commands.add_parser("trainer", help="dashboard accounts (trainers, quality managers)")
    trainer_commands = trainer.add_subparsers(dest="trainer_command", required=True, metavar="ACTION")
    add = trainer_commands.add_parser("add", help="create a dashboard account")
    add.add_argument("--email", required=True, help="the account's e-mail (its login)")
    add.add_argument("--name", required=True, help="the name learners and colleagues see")
    add.add_argument("--role", choices=["trainer", "quality"], default="trainer",
                     help="trainer (own sessions) or quality (responsable qualité: everything)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--invite", action="store_true",
                     help="no password: e-mail an invitation link instead (SMTP settings)")
    add.set_defaults(handler=cmd_trainer_add)

    apikey = commands.add_parser("apikey", help="integration API keys")
    key_commands = apikey.add_subparsers(dest="apikey_command", required=True, metavar="ACTION")
    create = key_commands.add_parser("create", help="create a key (printed once)")
    create.add_argument("--name", required=True, help="what the key is for (shown in the key list)")
    create.add_argument("--trainer", metavar="EMAIL", help="bind the key to this trainer's sessions")
    create.set_defaults(handler=cmd_apikey_create)
    key_commands.add_parser("list", help="list keys").set_defaults(handler=cmd_apikey_list)
    revoke = key_commands.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", type=int, help="the key's number (ancrage apikey list)")
    revoke.set_defaults(handler=cmd_apikey_revoke)


@asynccontextmanager
async def _session(settings: Settings) -> AsyncIterator[AsyncSession]:
    from engine.store.db import create_engine, session_factory
    from engine.store.migrate import upgrade_async

    engine = create_engine(settings)
    try:
        await upgrade_async(engine)
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Mot de passe : ")
    if getpass.getpass("Confirmez : ") != first:
        print("ancrage: the two passwords differ", file=sys.stderr)
        return None
    return first


def _fail(message: str, status: int = 1) -> int:
    print(f"ancrage: {message}", file=sys.stderr)
    return status


def cmd_trainer_add(args: argparse.Namespace) -> int:
    from engine.services.accounts import password_problem

    password: str | None = None
    if not args.invite:
        password = _read_password(args.password_stdin)
        if password is None:
            return 2
        problem = password_problem(password)
        if problem:
            return _fail(f"password refused: {problem}", 2)
    return asyncio.run(_trainer_add(Settings(), args.email, args.name, args.role, password))


async def _trainer_add(settings: Settings, email: str, name: str, role: str, password: str | None) -> int:
    from engine.services import accounts

    if "@" not in email:
        return _fail(f"not an e-mail address: {email}", 2)
    async with _session(settings) as session:
        if await accounts.find_trainer(session, email) is not None:
            return _fail(f"an account already exists for {email}")
        trainer = await accounts.create_trainer(session, email=email, name=name, role=role,
                                                password=password, now=datetime.now(UTC))
        await session.commit()
        print(f"{role} {trainer.id} created: {trainer.email}")
        if password is None:
            mail = accounts.invitation_mail(settings, trainer)
            if not await accounts.send_account_mail(settings, mail):
                print(f"no SMTP configured; send this invitation link yourself:\n{mail.link}")
            else:
                print(f"invitation sent to {trainer.email}")
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    return asyncio.run(_apikey_create(Settings(), args.name, args.trainer))


async def _apikey_create(settings: Settings, name: str, trainer_email: str | None) -> int:
    from engine.services import accounts

    async with _session(settings) as session:
        trainer_id = None
        if trainer_email:
            trainer = await accounts.find_trainer(session, trainer_email)
            if trainer is None:
                return _fail(f"no trainer {trainer_email}")
            trainer_id = trainer.id
        plaintext = await accounts.create_api_key(session, name, trainer_id)
        await session.commit()
    print(plaintext)
    print("this key is shown once: store it now", file=sys.stderr)
    return 0


def cmd_apikey_list(args: argparse.Namespace) -> int:
    return asyncio.run(_apikey_list(Settings()))


async def _apikey_list(settings: Settings) -> int:
    from engine.services import accounts

    async with _session(settings) as session:
        for key, email in await accounts.list_api_keys(session):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            print(f"{key.id}\t{state}\t{email or '(all sessions)'}\t{key.name}")
    return 0


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    return asyncio.run(_apikey_revoke(Settings(), args.key_id))


async def _apikey_revoke(settings: Settings, key_id: int) -> int:
    from engine.services import accounts

    async with _session(settings) as session:
        if not await accounts.revoke_api_key(session, key_id=key_id, now=datetime.now(UTC)):
            return _fail(f"no active key {key_id}")
        await session.commit()
    print(f"key {key_id} revoked")
    return 0
