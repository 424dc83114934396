"""Login, logout, forgotten password, reset and invitation links, and the team page (quality)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from engine.reports.team import team
from engine.services import accounts
from engine.store.base import TrainerRole
from webhooks.dashboard.auth import CheckedForm, QualityViewer, end_session, start_session
from webhooks.dashboard.common import field_error, now_of
from webhooks.dashboard.render import page, redirect
from webhooks.deps import RowId, SessionDep, SettingsDep

router = APIRouter(prefix="/dashboard")


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/dashboard") and not target.startswith("//"):
        return target
    return "/dashboard/"


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return page(request, "dashboard/login.html", None, next=_safe_next(request.query_params.get("next")),
                email="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, form: CheckedForm, db: SessionDep, settings: SettingsDep) -> Response:
    email, password = form.get("email", ""), form.get("password", "")
    target = _safe_next(form.get("next"))
    outcome = await accounts.authenticate(db, email=email, password=password, now=now_of(request))
    await db.commit()
    if isinstance(outcome, accounts.LoginFailure):
        error = ("Trop de tentatives : compte verrouillé pendant 15 minutes."
                 if outcome is accounts.LoginFailure.LOCKED else "E-mail ou mot de passe incorrect.")
        return page(request, "dashboard/login.html", None, status_code=401 if outcome == "invalid" else 423,
                    next=target, email=email, error=error)
    response = redirect(target)
    start_session(response, settings, outcome)
    return response


@router.post("/logout")
async def logout(request: Request, form: CheckedForm, settings: SettingsDep) -> Response:
    response = redirect("/dashboard/login")
    end_session(response, settings)
    return response


@router.get("/forgot", response_class=HTMLResponse)
async def forgot_page(request: Request) -> Response:
    return page(request, "dashboard/forgot.html", None, sent=False, error=None)


@router.post("/forgot", response_class=HTMLResponse)
async def forgot(request: Request, form: CheckedForm, db: SessionDep, settings: SettingsDep) -> Response:
    email = form.get("email", "")
    if field_error(email):
        return page(request, "dashboard/forgot.html", None, status_code=422, sent=False,
                    error="Ce champ est obligatoire.")
    trainer = await accounts.find_trainer(db, email)
    if trainer is not None and trainer.disabled_at is None:
        await accounts.send_account_mail(settings, accounts.reset_mail(settings, trainer))
    # The same answer whether or not the address has an account.
    return page(request, "dashboard/forgot.html", None, sent=True, error=None)


async def _link_page(request: Request, db: SessionDep, settings: SettingsDep, token: str, kind: str) -> Response:
    validity = accounts.RESET_VALIDITY if kind == "reset" else accounts.INVITATION_VALIDITY
    trainer = await accounts.trainer_for_link(db, settings, token, max_age=validity)
    return page(request, "dashboard/set_password.html", None, status_code=200 if trainer else 410,
                valid=trainer is not None, error=None, action=f"/dashboard/{kind}/{token}",
                name=trainer.name if trainer else "")


async def _link_post(request: Request, form: dict[str, str], db: SessionDep, settings: SettingsDep, token: str,
                     kind: str) -> Response:
    validity = accounts.RESET_VALIDITY if kind == "reset" else accounts.INVITATION_VALIDITY
    trainer = await accounts.trainer_for_link(db, settings, token, max_age=validity)
    if trainer is None:
        return await _link_page(request, db, settings, token, kind)
    password = form.get("password", "")
    problem = accounts.password_problem(password)
    if problem:
        return page(request, "dashboard/set_password.html", None, status_code=422, valid=True, error=problem,
                    action=f"/dashboard/{kind}/{token}", name=trainer.name)
    await accounts.set_password(db, trainer=trainer, password=password, now=now_of(request))
    await db.commit()
    return redirect("/dashboard/login", "password")


@router.get("/reset/{token}", response_class=HTMLResponse)
async def reset_page(request: Request, token: str, db: SessionDep, settings: SettingsDep) -> Response:
    return await _link_page(request, db, settings, token, "reset")


@router.post("/reset/{token}", response_class=HTMLResponse)
async def reset(request: Request, token: str, form: CheckedForm, db: SessionDep, settings: SettingsDep) -> Response:
    return await _link_post(request, form, db, settings, token, "reset")


@router.get("/invite/{token}", response_class=HTMLResponse)
async def invite_page(request: Request, token: str, db: SessionDep, settings: SettingsDep) -> Response:
    return await _link_page(request, db, settings, token, "invite")


@router.post("/invite/{token}", response_class=HTMLResponse)
async def invite(request: Request, token: str, form: CheckedForm, db: SessionDep, settings: SettingsDep) -> Response:
    return await _link_post(request, form, db, settings, token, "invite")


@router.get("/team", response_class=HTMLResponse)
async def team_page(request: Request, viewer: QualityViewer, db: SessionDep) -> Response:
    return await _team(request, viewer, db)


async def _team(request: Request, viewer: QualityViewer, db: SessionDep, *, status_code: int = 200,
                errors: dict[str, str] | None = None, values: dict[str, str] | None = None,
                new_key: str | None = None) -> Response:
    keys = [(key, email) for key, email in await accounts.list_api_keys(db)]
    return page(request, "dashboard/team.html", viewer, status_code=status_code, members=await team(db),
                errors=errors or {}, values=values or {}, keys=keys, new_key=new_key, title="Équipe")


@router.post("/team/apikeys", response_class=HTMLResponse)
async def create_key(request: Request, viewer: QualityViewer, form: CheckedForm, db: SessionDep) -> Response:
    """A new integration key, shown once on the page that answers this POST (never stored in clear)."""
    name = form.get("key_name", "").strip()
    error = field_error(name, max_length=200)
    if error:
        return await _team(request, viewer, db, status_code=422, errors={"key_name": error})
    members = {m.id for m in await team(db)}
    raw = form.get("key_trainer", "")
    trainer_id = int(raw) if raw.isdigit() and len(raw) < 10 and int(raw) in members else None
    plaintext = await accounts.create_api_key(db, name, trainer_id)
    await db.commit()
    return await _team(request, viewer, db, new_key=plaintext)


@router.post("/team/apikeys/{key_id}/revoke", response_class=HTMLResponse)
async def revoke_key(request: Request, key_id: RowId, viewer: QualityViewer, form: CheckedForm,
                     db: SessionDep) -> Response:
    await accounts.revoke_api_key(db, key_id=key_id, now=now_of(request))
    await db.commit()
    return redirect("/dashboard/team", "saved")


@router.post("/team/invite", response_class=HTMLResponse)
async def team_invite(request: Request, viewer: QualityViewer, form: CheckedForm, db: SessionDep,
                      settings: SettingsDep) -> Response:
    values = {k: form.get(k, "").strip() for k in ("email", "name", "role")}
    errors = {k: e for k in ("email", "name") if (e := field_error(values[k], max_length=300))}
    if "email" not in errors and "@" not in values["email"]:
        errors["email"] = "Adresse e-mail invalide."
    if "email" not in errors and await accounts.find_trainer(db, values["email"]) is not None:
        errors["email"] = "Un compte existe déjà pour cette adresse."
    if errors:
        return await _team(request, viewer, db, status_code=422, errors=errors, values=values)
    role = TrainerRole.QUALITY if values["role"] == "quality" else TrainerRole.TRAINER
    trainer = await accounts.create_trainer(db, email=values["email"], name=values["name"], role=role,
                                            now=now_of(request))
    await db.commit()
    await accounts.send_account_mail(settings, accounts.invitation_mail(settings, trainer))
    return redirect("/dashboard/team", "invited")
