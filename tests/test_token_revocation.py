"""Revocation that means it: a token minted with an API key dies with the key (on REST, socket
handshakes, refresh and sockets already open), and so does every token refreshed or minted from
it; refresh never carries a session past the bound fixed at its first sign-in; an admin ends one
identity's tokens, or every token, without rotating the signing secret; and a revocation made
through one API process holds on another sharing the database at once (nothing is kept in
process memory)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from api.tokens import INVALID_TOKEN, Grants, TokenError, mint_token, verify_token
from switchboard.devstack import DevServer
from tests.helpers.jwks import SSO_AUDIENCE, SSO_ISSUER, JwksServer
from tests.helpers.stack import Stack, StackFactory, eventually, free_port, healthy, spawn, test_settings
from tests.helpers.tokens import forge

PROTOCOL = "switchboard.agent.v1"
REVOKED = 20101
SESSION_OVER = 20104


@pytest.fixture(scope="module")
def revocable(make_stack: StackFactory, jwks: JwksServer) -> Stack:
    # Open sockets notice a revocation when they next read their feed. Single sign-on is on too.
    return make_stack(
        feed_fallback_poll_seconds=0.2,
        jwt_jwks_url=jwks.url,
        jwt_sso_issuer=SSO_ISSUER,
        jwt_sso_audience=SSO_AUDIENCE,
    )


@pytest.fixture(scope="module")
def desk_grants(revocable: Stack) -> dict[str, str]:
    """WorkspaceSid and WorkerSid of a worker of the default workspace (the agent socket needs them)."""
    client = revocable.twilio()
    [workspace] = [w for w in client.taskrouter.v1.workspaces.list() if w.friendly_name == "Flex Task Assignment"]
    worker = client.taskrouter.v1.workspaces(workspace.sid).workers.create(
        friendly_name="ops desk", attributes=json.dumps({"routing": {"skills": ["support"]}})
    )
    return {"WorkspaceSid": workspace.sid, "WorkerSid": worker.sid}


def new_api_key(stack: Stack) -> tuple[str, str]:
    with stack.http() as http:
        response = http.post(f"/2010-04-01/Accounts/{stack.settings.account_sid}/Keys.json", data={})
    assert response.status_code == 201, response.text
    return response.json()["sid"], response.json()["secret"]


def delete_api_key(stack: Stack, sid: str) -> None:
    with stack.http() as http:
        response = http.delete(f"/2010-04-01/Accounts/{stack.settings.account_sid}/Keys/{sid}.json")
    assert response.status_code == 204, response.text


def mint(stack: Stack, auth: httpx.Auth | tuple[str, str] | str, identity: str, **fields: str) -> dict[str, Any]:
    """``POST /v1/Tokens`` with HTTP Basic ``auth``, or with a Bearer token when ``auth`` is one."""
    headers = {"Authorization": f"Bearer {auth}"} if isinstance(auth, str) else {}
    basic = None if isinstance(auth, str) else auth
    response = httpx.post(
        f"{stack.url}/v1/Tokens", data={"Identity": identity, **fields}, auth=basic, headers=headers, timeout=60
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def account(stack: Stack) -> tuple[str, str]:
    return stack.settings.account_sid, stack.settings.auth_token


def rest(stack: Stack, token: str) -> httpx.Response:
    """A REST call an admin token may make."""
    return httpx.get(f"{stack.url}/v1/Workspaces", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def refresh(stack: Stack, token: str) -> httpx.Response:
    return httpx.post(f"{stack.url}/v1/Tokens/Refresh", headers={"Authorization": f"Bearer {token}"}, timeout=60)


def revoke(stack: Stack, auth: tuple[str, str] | str, **fields: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {auth}"} if isinstance(auth, str) else {}
    basic = None if isinstance(auth, str) else auth
    return httpx.post(f"{stack.url}/v1/Tokens/Revocations", data=fields, auth=basic, headers=headers, timeout=60)


def refused(response: httpx.Response, code: int = REVOKED) -> str:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == code, response.text
    return str(response.json()["message"])


def ws_url(stack: Stack) -> str:
    return stack.url.replace("http://", "ws://") + "/v1/agent/ws"


def handshake(stack: Stack, token: str) -> tuple[int, str] | None:
    """None when the agent socket takes the token (its ``ready`` frame came), else how it closed."""

    async def run() -> tuple[int, str] | None:
        async with connect(ws_url(stack), subprotocols=[PROTOCOL, f"access_token.{token}"]) as ws:  # type: ignore[list-item]
            try:
                first = json.loads(await asyncio.wait_for(ws.recv(), 30))
            except ConnectionClosed as closed:
                assert closed.rcvd is not None
                return closed.rcvd.code, closed.rcvd.reason
            assert first["type"] == "ready", first
            return None

    return asyncio.run(run())


def claims_of(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


# --- API keys -----------------------------------------------------------------------------------


def test_a_revoked_keys_admin_token_dies_on_rest_sockets_and_refresh(
    revocable: Stack, desk_grants: dict[str, str]
) -> None:
    key = new_api_key(revocable)
    admin = mint(revocable, key, "ops-key", Role="admin", **desk_grants)["token"]
    refreshed = refresh(revocable, admin).json()["token"]
    # A token an admin token mints belongs to the same sign-in: it dies with the key too.
    minted = mint(revocable, admin, "agent-of-ops", Role="admin", **desk_grants)["token"]
    by_account = mint(revocable, account(revocable), "ops-account", Role="admin", **desk_grants)["token"]
    for token in (admin, refreshed, minted, by_account):
        assert rest(revocable, token).status_code == 200
        assert handshake(revocable, token) is None
    assert claims_of(admin)["origin"] == claims_of(refreshed)["origin"] == claims_of(minted)["origin"] == key[0]
    assert claims_of(by_account)["origin"] == "account"

    async def open_socket_closes_once_the_key_is_revoked() -> tuple[int, str]:
        subprotocols = [PROTOCOL, f"access_token.{refreshed}"]
        async with connect(ws_url(revocable), subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            assert json.loads(await ws.recv())["type"] == "ready"
            await asyncio.to_thread(delete_api_key, revocable, key[0])
            async with asyncio.timeout(30):
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await ws.recv()
            assert closed.value.rcvd is not None
            return closed.value.rcvd.code, closed.value.rcvd.reason

    code, reason = asyncio.run(open_socket_closes_once_the_key_is_revoked())
    assert code == 4401 and str(REVOKED) in reason and "revoked" in reason

    for token in (admin, refreshed, minted):
        assert "revoked" in refused(rest(revocable, token))
        assert "revoked" in refused(refresh(revocable, token))
        closed = handshake(revocable, token)
        assert closed is not None and closed[0] == 4401 and str(REVOKED) in closed[1]
    # The account's own tokens are not the key's.
    assert rest(revocable, by_account).status_code == 200
    assert handshake(revocable, by_account) is None


# --- the session bound --------------------------------------------------------------------------


def test_refresh_never_carries_a_session_past_its_bound(revocable: Stack) -> None:
    settings = revocable.settings
    bound = timedelta(seconds=settings.token_session_max_seconds)
    assert bound == timedelta(hours=12)  # the documented default
    # A session that began over the bound ago, whose token is still good (minted under a longer
    # bound the operator has since cut, say): it works until it expires but cannot be refreshed.
    now = int(datetime.now(UTC).timestamp())
    claims = claims_of(mint(revocable, account(revocable), "night-shift", Role="admin")["token"])
    claims.update(auth_time=now - bound.total_seconds() - 300, iat=now - 60, nbf=now - 60, exp=now + 600)
    old = jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
    assert rest(revocable, old).status_code == 200
    message = refused(refresh(revocable, old), SESSION_OVER)
    assert "session is over" in message and "sign in again" in message
    with pytest.raises(TokenError) as over:  # nor is any token minted in it
        mint_token(settings, "night-shift", Grants(), 60, session_start=datetime.now(UTC) - bound)
    assert over.value.code == SESSION_OVER

    # Five minutes of the session left: a token asked for an hour gets five minutes, and so does
    # its refresh; neither expires after the bound, and the session start rides along unchanged.
    signed_in = datetime.now(UTC).replace(microsecond=0) - bound + timedelta(minutes=5)
    late, expires = mint_token(
        settings, "late-shift", Grants(role="admin"), 3600, origin="account", session_start=signed_in
    )
    end = (signed_in + bound).timestamp()
    assert expires.timestamp() <= end
    answer = refresh(revocable, late)
    assert answer.status_code == 201, answer.text
    renewed = claims_of(answer.json()["token"])
    assert renewed["auth_time"] == claims_of(late)["auth_time"]
    assert renewed["exp"] <= end and answer.json()["ttl"] <= 300
    # Refreshing the refreshed token again still never passes the bound.
    again = refresh(revocable, answer.json()["token"])
    assert again.status_code == 201 and claims_of(again.json()["token"])["exp"] <= end

    # A first sign-in never gets a token past the bound either, whatever Ttl asks for.
    fresh = mint(revocable, account(revocable), "day-shift", Role="admin", Ttl="86400")
    fresh_claims = claims_of(fresh["token"])
    assert fresh_claims["exp"] - fresh_claims["auth_time"] <= bound.total_seconds()
    assert fresh["ttl"] <= bound.total_seconds()


@pytest.mark.parametrize(
    "changes",
    [{"auth_time": "yesterday"}, {"auth_time": True}, {"origin": ""}, {"origin": 7}, {"origin": "SK" + "0" * 63}],
)
def test_a_malformed_session_claim_is_refused(tmp_path: Path, changes: dict[str, Any]) -> None:
    settings = test_settings(tmp_path)
    with pytest.raises(TokenError) as refusal:
        verify_token(settings, forge(settings, **changes))
    assert refusal.value.code == INVALID_TOKEN


# --- revoking identities and everything ---------------------------------------------------------


def test_revoking_an_identity_ends_its_tokens_only(revocable: Stack, desk_grants: dict[str, str]) -> None:
    mallory = mint(revocable, account(revocable), "mallory@example.com", Role="admin", **desk_grants)["token"]
    mallory_agent = mint(revocable, account(revocable), "mallory@example.com", Role="agent")["token"]
    trent = mint(revocable, account(revocable), "trent@example.com", Role="admin", **desk_grants)["token"]

    answer = revoke(revocable, account(revocable), Identity="mallory@example.com")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["scope"] == "identity" and body["identity"] == "mallory@example.com"
    assert body["account_sid"] == revocable.settings.account_sid and body["revoked_before"]

    for token in (mallory, mallory_agent):
        assert "revoked" in refused(refresh(revocable, token))
    assert "revoked" in refused(rest(revocable, mallory))
    closed = handshake(revocable, mallory)
    assert closed is not None and closed[0] == 4401
    assert rest(revocable, trent).status_code == 200 and handshake(revocable, trent) is None
    # Signing in again afterwards starts a new session that works.
    again = mint(revocable, account(revocable), "mallory@example.com", Role="admin")["token"]
    assert rest(revocable, again).status_code == 200


def test_single_sign_on_sessions_are_revoked_and_bounded_by_their_sign_in(revocable: Stack, jwks: JwksServer) -> None:
    grants = {"switchboard": {"role": "admin"}}
    now = int(datetime.now(UTC).timestamp())
    sso = jwks.sign({"sub": "sam@example.com", "iat": now - 5, **grants})
    assert rest(revocable, sso).status_code == 200
    answer = refresh(revocable, sso)
    assert answer.status_code == 201, answer.text
    refreshed = answer.json()["token"]
    # The Switchboard token carries on the provider's session: same start, origin "sso".
    assert claims_of(refreshed)["auth_time"] == now - 5 and claims_of(refreshed)["origin"] == "sso"

    assert revoke(revocable, account(revocable), Identity="sam@example.com").status_code == 201
    for token in (sso, refreshed):
        assert "revoked" in refused(rest(revocable, token))
        assert "revoked" in refused(refresh(revocable, token))
    # A token the provider renewed without a new sign-in (auth_time before the revocation) is
    # still of the ended session; one from a new sign-in works.
    later = int(datetime.now(UTC).timestamp()) + 2
    renewed = jwks.sign({"sub": "sam@example.com", "iat": later, "auth_time": now - 5, **grants})
    assert "revoked" in refused(rest(revocable, renewed))
    signed_in_again = jwks.sign({"sub": "sam@example.com", "iat": later, "auth_time": later, **grants})
    assert rest(revocable, signed_in_again).status_code == 200

    # The provider's sign-in time bounds refreshing too.
    bound = revocable.settings.token_session_max_seconds
    stale = jwks.sign({"sub": "sue@example.com", "auth_time": now - bound - 60, **grants})
    assert rest(revocable, stale).status_code == 200
    assert "session is over" in refused(refresh(revocable, stale), SESSION_OVER)


def test_revoking_all_ends_every_token_and_new_ones_work(make_stack: StackFactory) -> None:
    stack = make_stack()
    key = new_api_key(stack)
    admin = mint(stack, key, "ops", Role="admin")["token"]
    tokens = [admin, mint(stack, account(stack), "oscar", Role="admin")["token"]]
    tokens.append(refresh(stack, tokens[1]).json()["token"])

    answer = revoke(stack, admin, All="true")  # an admin token may, and ends itself too
    assert answer.status_code == 201, answer.text
    assert answer.json()["scope"] == "all" and answer.json()["identity"] is None
    for token in tokens:
        assert "revoked" in refused(rest(stack, token))
        assert "revoked" in refused(refresh(stack, token))
    # The secret was not rotated: tokens minted from now on work, with the key and the account.
    for auth in (key, account(stack)):
        fresh = mint(stack, auth, "ops", Role="admin")["token"]
        assert rest(stack, fresh).status_code == 200
        assert refresh(stack, fresh).status_code == 201


def test_only_admins_revoke(revocable: Stack) -> None:
    supervisor = mint(revocable, account(revocable), "sue", Role="supervisor")["token"]
    agent = mint(revocable, account(revocable), "al", Role="agent")["token"]
    for token in (supervisor, agent):
        answer = revoke(revocable, token, All="true")
        assert answer.status_code == 403 and answer.json()["code"] == 20403, answer.text
    assert revoke(revocable, ("AC" + "0" * 32, "nope"), All="true").status_code == 401
    assert rest(revocable, supervisor).status_code == 200  # still alive: nothing was revoked
    # Exactly one of Identity and All.
    assert revoke(revocable, account(revocable)).status_code == 400
    both = revoke(revocable, account(revocable), Identity="sue", All="true")
    assert both.status_code == 400
    key = new_api_key(revocable)
    answer = revoke(revocable, key, Identity="sue")
    assert answer.status_code == 201, answer.text
    assert "revoked" in refused(refresh(revocable, supervisor))
    assert refresh(revocable, agent).status_code == 201


# --- replicas -----------------------------------------------------------------------------------


@pytest.fixture
def replicas(
    temporal_server: DevServer, postgres_url: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> Iterator[tuple[Stack, Stack]]:
    """Two ``switchboard api`` processes on one PostgreSQL database, as replicas run."""
    first = test_settings(tmp_path, temporal_address=temporal_server.address, database_url=postgres_url)
    second = first.model_copy(update={"api_port": free_port()})
    for n, settings in enumerate((first, second)):
        processes.append(spawn("api", settings.as_environment(), tmp_path / f"api{n}.log"))
    one, two = Stack(first), Stack(second)
    for replica in (one, two):
        eventually(lambda replica=replica: healthy(replica), timeout=90)  # type: ignore[misc]
    yield one, two


def test_a_revocation_on_one_replica_holds_on_every_other_at_once(replicas: tuple[Stack, Stack]) -> None:
    one, two = replicas
    key = new_api_key(one)
    by_key = mint(one, key, "ops", Role="admin")["token"]
    alice = mint(two, account(two), "alice", Role="admin")["token"]
    bob = mint(one, account(one), "bob", Role="admin")["token"]
    for replica in (one, two):
        for token in (by_key, alice, bob):
            assert rest(replica, token).status_code == 200
    # Each replica has now verified each token: what it learnt then must not outlive a revocation
    # made on the other one, from the very next request.
    delete_api_key(two, key[0])
    assert "revoked" in refused(rest(one, by_key))
    assert revoke(one, account(one), Identity="alice").status_code == 201
    assert "revoked" in refused(rest(two, alice))
    assert "revoked" in refused(refresh(two, alice))
    assert rest(two, bob).status_code == 200
    assert revoke(two, account(two), All="true").status_code == 201
    assert "revoked" in refused(rest(one, bob))
