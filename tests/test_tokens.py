"""Access tokens: minted through ``POST /v1/Tokens`` on a real stack and decoded independently with
PyJWT; ``verify_token`` refusing every kind of bad token with its own code; the Bearer dependency;
and the dev secrets file gaining ``jwt_secret`` when it was written before there was one."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from api.deps import AppContext, ClaimsDep
from api.tokens import (
    EXPIRED,
    INVALID_GRANTS,
    INVALID_HEADER,
    INVALID_ISSUER,
    INVALID_SIGNATURE,
    INVALID_TOKEN,
    NOT_YET_VALID,
    Grants,
    TokenError,
    mint_token,
    verify_token,
)
from api.twilio_shape import TwilioError, iso, twilio_error_handler
from switchboard.settings import SECRET_FIELDS, SECRETS_FILE, Settings, generate_dev_secrets
from switchboard.store.crypto import Cipher, KeyedHasher
from switchboard.store.db import Database, create_tables
from switchboard.store.models import Worker
from tests.helpers.stack import Stack, test_settings
from tests.helpers.tokens import forge

# Secrets blanked so that a test sees only what the secrets file supplies, whatever the environment.
NO_SECRETS: dict[str, Any] = {name: "" for name in SECRET_FIELDS}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return test_settings(tmp_path)


# --- REST ---------------------------------------------------------------------------------------


def create_workspace(http: httpx.Client, name: str) -> str:
    response = http.post("/v1/Workspaces", data={"FriendlyName": f"{name} {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return str(response.json()["sid"])


def insert_worker(stack: Stack, http: httpx.Client, workspace_sid: str) -> str:
    """A worker row put in through the store (the Workers REST resource is not built yet)."""
    activities = http.get(f"/v1/Workspaces/{workspace_sid}/Activities").json()["activities"]
    offline = next(a for a in activities if a["friendly_name"] == "Offline")
    cipher = Cipher.from_setting(stack.settings.encryption_keys, stack.settings.encryption_key_id)
    worker = Worker(
        sid="WK" + uuid.uuid4().hex,
        workspace_sid=workspace_sid,
        friendly_name=f"alice {uuid.uuid4().hex[:6]}",
        attributes_enc=cipher.encrypt(json.dumps({"routing": {"skills": ["sales"]}}), "worker.attributes"),
        activity_sid=offline["sid"],
        activity_name=offline["friendly_name"],
    )

    async def insert(_client: Any) -> None:
        db = Database(stack.settings.resolved_database_url)
        try:
            async with db.write_session() as session:
                session.add(worker)
                await session.commit()
        finally:
            await db.dispose()

    stack.call(insert)
    return worker.sid


def test_a_token_minted_over_rest_decodes_with_pyjwt_and_verifies(stack: Stack) -> None:
    settings = stack.settings
    with stack.http() as http:
        service = stack.create_service(http)
        workspace = create_workspace(http, "agents")
        worker = insert_worker(stack, http, workspace)
        before = datetime.now(UTC).replace(microsecond=0)
        response = http.post(
            "/v1/Tokens",
            data={
                "Identity": "alice@example.com",
                "Ttl": "600",
                "Role": "supervisor",
                "ChatServiceSid": service,
                "WorkspaceSid": workspace,
                "WorkerSid": worker,
            },
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"token", "identity", "role", "grants", "expires_at", "ttl"}
    expected_grants = {
        "identity": "alice@example.com",
        "role": "supervisor",
        "chat": {"service_sid": service},
        "task_router": {"workspace_sid": workspace, "worker_sid": worker},
    }
    assert body["identity"] == "alice@example.com" and body["role"] == "supervisor" and body["ttl"] == 600
    assert body["grants"] == expected_grants

    token = body["token"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], audience="switchboard", issuer="switchboard")
    assert set(claims) == {"jti", "iss", "aud", "sub", "iat", "nbf", "exp", "auth_time", "origin", "grants"}
    # Signed in with the account's own credentials, just now (a first sign-in).
    assert claims["origin"] == "account" and claims["iat"] <= claims["auth_time"] < claims["iat"] + 1
    assert claims["iss"] == claims["aud"] == "switchboard"
    assert claims["sub"] == settings.account_sid
    assert claims["nbf"] == claims["iat"] and claims["exp"] - claims["iat"] == 600
    assert before.timestamp() <= claims["iat"] <= datetime.now(UTC).timestamp()
    assert body["expires_at"] == iso(datetime.fromtimestamp(claims["exp"], UTC))
    assert claims["grants"] == expected_grants
    assert len(claims["jti"]) == 32

    verified = verify_token(settings, token)
    assert verified.identity == "alice@example.com" and verified.role == "supervisor"
    assert verified.account_sid == settings.account_sid and verified.jti == claims["jti"]
    assert verified.grants == Grants(
        role="supervisor", chat_service_sid=service, workspace_sid=workspace, worker_sid=worker
    )
    assert verified.expires_at == datetime.fromtimestamp(claims["exp"], UTC)
    with pytest.raises(TokenError) as refused:  # and it is not valid under any other key
        verify_token(settings.model_copy(update={"jwt_secret": secrets.token_urlsafe(32)}), token)
    assert refused.value.code == INVALID_SIGNATURE


def test_defaults_an_agent_token_with_the_settings_ttl_and_no_extra_grants(stack: Stack) -> None:
    with stack.http() as http:
        body = http.post("/v1/Tokens", data={"Identity": "bob"}).json()
        workspace = create_workspace(http, "just a workspace")
        scoped = http.post("/v1/Tokens", data={"Identity": "bob", "WorkspaceSid": workspace}).json()
    assert body["role"] == "agent" and body["ttl"] == 3600
    assert body["grants"] == {"identity": "bob", "role": "agent"}
    claims = verify_token(stack.settings, body["token"])
    assert claims.expires_at - claims.issued_at == timedelta(seconds=3600)
    assert claims.grants == Grants()
    assert scoped["grants"]["task_router"] == {"workspace_sid": workspace}


@pytest.mark.parametrize(
    ("case", "parameter"),
    [
        ("unknown worker", "WorkerSid"),
        ("worker of another workspace", "WorkerSid"),
        ("worker without workspace", "WorkspaceSid"),
        ("unknown workspace", "WorkspaceSid"),
        ("unknown chat service", "ChatServiceSid"),
        ("ttl too short", "Ttl"),
        ("ttl too long", "Ttl"),
        ("ttl not a number", "Ttl"),
        ("no identity", "Identity"),
        ("customer role", "Role"),
        ("unknown role", "Role"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(stack: Stack, case: str, parameter: str) -> None:
    with stack.http() as http:
        workspace = create_workspace(http, "mine")
        data: dict[str, str] = {"Identity": "carol"}
        if case == "unknown worker":
            data |= {"WorkspaceSid": workspace, "WorkerSid": "WK" + uuid.uuid4().hex}
        elif case == "worker of another workspace":
            theirs = insert_worker(stack, http, create_workspace(http, "theirs"))
            data |= {"WorkspaceSid": workspace, "WorkerSid": theirs}
        elif case == "worker without workspace":
            data |= {"WorkerSid": insert_worker(stack, http, workspace)}
        elif case == "unknown workspace":
            data |= {"WorkspaceSid": "WS" + uuid.uuid4().hex}
        elif case == "unknown chat service":
            data |= {"ChatServiceSid": "IS" + uuid.uuid4().hex}
        elif case.startswith("ttl"):
            data["Ttl"] = {"ttl too short": "59", "ttl too long": "86401", "ttl not a number": "soon"}[case]
        elif case == "no identity":
            del data["Identity"]
        else:
            data["Role"] = "customer" if case == "customer role" else "root"
        response = http.post("/v1/Tokens", data=data)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 20001 and body["status"] == 400
    assert parameter in body["message"], body
    assert "token" not in body


def test_tokens_need_the_account_credentials(stack: Stack) -> None:
    anonymous = httpx.post(f"{stack.url}/v1/Tokens", data={"Identity": "mallory"})
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == 20003
    wrong = httpx.post(
        f"{stack.url}/v1/Tokens", data={"Identity": "mallory"}, auth=(stack.settings.account_sid, "not the token")
    )
    assert wrong.status_code == 401 and "token" not in wrong.json()


# --- verify_token -------------------------------------------------------------------------------


def refused_code(settings: Settings, token: str) -> int:
    with pytest.raises(TokenError) as refused:
        verify_token(settings, token)
    return refused.value.code


def test_verify_accepts_a_good_token_and_tolerates_small_clock_skew(settings: Settings) -> None:
    token, expires = mint_token(settings, "erin", Grants(role="customer", channel_sid="CH" + "a" * 32), 120)
    claims = verify_token(settings, token)
    assert claims.identity == "erin" and claims.role == "customer"
    assert claims.grants.channel_sid == "CH" + "a" * 32 and claims.expires_at == expires
    assert jwt.decode(token, options={"verify_signature": False})["grants"]["channel_sid"] == "CH" + "a" * 32
    now = int(datetime.now(UTC).timestamp())
    # A few seconds either side of the validity window is clock skew, not an attack.
    assert verify_token(settings, forge(settings, iat=now + 5, nbf=now + 5)).identity == "dave"
    assert verify_token(settings, forge(settings, iat=now - 600, nbf=now - 600, exp=now - 5)).identity == "dave"


def test_verify_refuses_another_key(settings: Settings) -> None:
    token, _ = mint_token(settings, "frank", Grants(), 600)
    other = settings.model_copy(update={"jwt_secret": secrets.token_urlsafe(32)})
    assert refused_code(other, token) == INVALID_SIGNATURE
    header, payload, _signature = token.split(".")
    assert refused_code(settings, f"{header}.{payload}.{'A' * 43}") == INVALID_SIGNATURE


def test_verify_refuses_expired_and_not_yet_valid_tokens(settings: Settings) -> None:
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    expired, expires = mint_token(settings, "grace", Grants(), 3600, now=two_hours_ago)
    assert expires < datetime.now(UTC)
    assert refused_code(settings, expired) == EXPIRED
    later, _ = mint_token(settings, "grace", Grants(), 600, now=datetime.now(UTC) + timedelta(hours=1))
    assert refused_code(settings, later) == NOT_YET_VALID
    now = int(datetime.now(UTC).timestamp())
    assert refused_code(settings, forge(settings, exp=now - 120)) == EXPIRED


def test_verify_refuses_another_issuer_audience_or_account(settings: Settings) -> None:
    for field in ("jwt_issuer", "jwt_audience", "account_sid"):
        other = settings.model_copy(update={field: "somebody-else"})
        token, _ = mint_token(other, "heidi", Grants(), 600)
        assert refused_code(settings, token) == INVALID_ISSUER, field
    # An audience list holding ours is refused too: tokens are minted with one audience.
    assert refused_code(settings, forge(settings, aud=[settings.jwt_audience, "x"])) == INVALID_ISSUER


@pytest.mark.filterwarnings("ignore::jwt.InsecureKeyLengthWarning")
def test_verify_refuses_other_algorithms(settings: Settings) -> None:
    unsigned = jwt.encode(
        {"grants": {"identity": "ivan", "role": "admin"}, "sub": settings.account_sid}, "", algorithm="none"
    )
    assert refused_code(settings, unsigned) == INVALID_HEADER
    assert refused_code(settings, forge(settings, algorithm="HS512")) == INVALID_HEADER


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b.c", "Bearer x.y.z", "\u00e9\u00e9.\u00e9\u00e9.\u00e9\u00e9", "signed non-JSON"],
)
def test_verify_refuses_garbage(settings: Settings, garbage: str) -> None:
    if garbage == "signed non-JSON":  # the right key signed it, yet it holds no claims
        garbage = jwt.api_jws.encode(b"not json", settings.jwt_secret, algorithm="HS256")
    assert refused_code(settings, garbage) == INVALID_TOKEN


@pytest.mark.parametrize("claim", ["jti", "iss", "aud", "sub", "iat", "nbf", "exp", "auth_time", "origin", "grants"])
def test_verify_refuses_a_token_missing_a_claim(settings: Settings, claim: str) -> None:
    assert refused_code(settings, forge(settings, drop=(claim,))) == INVALID_TOKEN


@pytest.mark.parametrize(
    "grants",
    [
        "agent",
        {"role": "agent"},
        {"identity": "", "role": "agent"},
        {"identity": "judy", "role": "root"},
        {"identity": "judy", "role": "agent", "chat": "IS1"},
        {"identity": "judy", "role": "agent", "task_router": {"worker_sid": 7}},
    ],
)
def test_verify_refuses_malformed_grants(settings: Settings, grants: Any) -> None:
    assert refused_code(settings, forge(settings, grants=grants)) == INVALID_GRANTS


def test_mint_refuses_ttls_beyond_a_day_and_empty_secrets(settings: Settings) -> None:
    for ttl in (0, -1, 86401):
        with pytest.raises(ValueError, match="ttl"):
            mint_token(settings, "ken", Grants(), ttl)
    with pytest.raises(RuntimeError, match="JWT_SECRET"):
        mint_token(settings.model_copy(update={"jwt_secret": ""}), "ken", Grants(), 60)


# --- the Bearer dependency ----------------------------------------------------------------------


@pytest.fixture
async def bearer_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A tiny app with one route behind ``claims_from_bearer``."""
    app = FastAPI()
    app.add_exception_handler(TwilioError, twilio_error_handler)

    @app.get("/whoami")
    def whoami(claims: ClaimsDep) -> dict[str, str]:
        return {"identity": claims.identity, "role": claims.role}

    db = Database(settings.resolved_database_url)
    await create_tables(db.engine)  # revocations are looked up in the store
    app.state.context = AppContext(
        settings=settings,
        db=db,
        cipher=Cipher.from_setting(settings.encryption_keys),
        hasher=KeyedHasher.from_setting(settings.hash_key),
    )
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client
    finally:
        await db.dispose()


async def test_bearer_dependency_answers_the_claims(bearer_app: httpx.AsyncClient, settings: Settings) -> None:
    token, _ = mint_token(settings, "leo", Grants(role="admin"), 60)
    response = await bearer_app.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json() == {"identity": "leo", "role": "admin"}
    lowercase = await bearer_app.get("/whoami", headers={"Authorization": f"bearer {token}"})
    assert lowercase.status_code == 200


async def test_bearer_dependency_refuses_with_twilio_errors(bearer_app: httpx.AsyncClient, settings: Settings) -> None:
    expired, _ = mint_token(settings, "mia", Grants(), 60, now=datetime.now(UTC) - timedelta(hours=1))
    other_key = settings.model_copy(update={"jwt_secret": secrets.token_urlsafe(32)})
    forged, _ = mint_token(other_key, "mia", Grants(role="admin"), 60)
    cases: list[tuple[dict[str, str], int]] = [
        ({}, 20003),
        ({"Authorization": f"Basic {settings.account_sid}"}, 20003),
        ({"Authorization": "Bearer "}, 20003),
        ({"Authorization": "Bearer garbage"}, INVALID_TOKEN),
        ({"Authorization": f"Bearer {expired}"}, EXPIRED),
        ({"Authorization": f"Bearer {forged}"}, INVALID_SIGNATURE),
    ]
    for headers, code in cases:
        response = await bearer_app.get("/whoami", headers=headers)
        assert response.status_code == 401, headers
        body = response.json()
        assert body["code"] == code and body["status"] == 401, (headers, body)
        assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"


# --- settings -----------------------------------------------------------------------------------


def test_an_old_dev_secrets_file_gains_a_jwt_secret(tmp_path: Path) -> None:
    old = {
        "account_sid": "AC" + secrets.token_hex(16),
        "auth_token": secrets.token_hex(16),
        "encryption_keys": "k1:" + "A" * 43 + "=",
        "hash_key": "B" * 43 + "=",
        "twilio_auth_token": secrets.token_hex(16),
    }
    path = tmp_path / SECRETS_FILE
    path.write_text(json.dumps(old))
    path.chmod(0o600)

    assert generate_dev_secrets(tmp_path) == (path, False)
    upgraded = json.loads(path.read_text())
    assert set(SECRET_FIELDS) <= set(upgraded)
    assert {k: upgraded[k] for k in old} == old  # nothing that was there changes
    assert len(upgraded["jwt_secret"]) >= 43
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == [SECRETS_FILE]  # no temporary file left behind

    assert generate_dev_secrets(tmp_path) == (path, False)
    assert json.loads(path.read_text()) == upgraded  # a second start changes nothing

    loaded = Settings(data_dir=tmp_path, **NO_SECRETS).with_file_secrets().require_secrets()
    assert loaded.jwt_secret == upgraded["jwt_secret"] and loaded.account_sid == old["account_sid"]


def test_a_fresh_dev_secrets_file_has_every_secret(tmp_path: Path) -> None:
    path, created = generate_dev_secrets(tmp_path / "data")
    assert created
    stored = json.loads(path.read_text())
    assert set(stored) == set(SECRET_FIELDS)
    settings = Settings(data_dir=tmp_path / "data", **NO_SECRETS).with_file_secrets()
    token, _ = mint_token(settings, "nina", Grants(), 60)
    assert verify_token(settings, token).identity == "nina"


def test_a_missing_jwt_secret_is_reported(tmp_path: Path) -> None:
    settings = test_settings(tmp_path, jwt_secret="")
    with pytest.raises(SystemExit, match="SWITCHBOARD_JWT_SECRET"):
        settings.require_secrets()


@pytest.mark.parametrize(
    "values",
    [{"jwt_secret": "too short"}, {"token_ttl_seconds": 86401}, {"token_ttl_seconds": 59}, {"jwt_issuer": ""}],
)
def test_token_settings_are_checked(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(**values)
