"""Single sign-on tokens checked against an identity provider's JWKS served over real HTTP on
loopback: the claims they map to, every kind of bad token refused with its own code, the keys
fetched once and cached, and Switchboard's own HS256 tokens still accepted beside them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from api.tokens import (
    EXPIRED,
    INVALID_GRANTS,
    INVALID_HEADER,
    INVALID_ISSUER,
    INVALID_SIGNATURE,
    INVALID_TOKEN,
    Grants,
    TokenError,
    mint_token,
    verify_token,
)
from switchboard.settings import Settings
from tests.helpers.jwks import SSO_AUDIENCE, SSO_ISSUER, JwksServer, rsa_key
from tests.helpers.stack import test_settings

AGENT_GRANTS = {"role": "agent", "task_router": {"workspace_sid": "WS" + "1" * 32, "worker_sid": "WK" + "2" * 32}}


@pytest.fixture
def settings(tmp_path: Path, jwks: JwksServer) -> Settings:
    return test_settings(tmp_path, jwt_jwks_url=jwks.url, jwt_sso_issuer=SSO_ISSUER, jwt_sso_audience=SSO_AUDIENCE)


def refused(settings: Settings, token: str) -> TokenError:
    with pytest.raises(TokenError) as refusal:
        verify_token(settings, token)
    return refusal.value


def test_a_provider_token_maps_to_its_identity_and_grants(settings: Settings, jwks: JwksServer) -> None:
    claims = verify_token(settings, jwks.sign({"sub": "alice@example.com", "switchboard": AGENT_GRANTS}))
    assert claims.identity == "alice@example.com" and claims.role == "agent"
    assert claims.grants == Grants(role="agent", workspace_sid="WS" + "1" * 32, worker_sid="WK" + "2" * 32)
    assert claims.account_sid == settings.account_sid and claims.issuer == SSO_ISSUER
    named = verify_token(settings, jwks.sign({"sub": "u-1", "switchboard": {"role": "admin", "identity": "root"}}))
    assert named.identity == "root" and named.role == "admin"


def test_the_grants_claim_name_is_a_setting(tmp_path: Path, jwks: JwksServer) -> None:
    settings = test_settings(
        tmp_path,
        jwt_jwks_url=jwks.url,
        jwt_sso_issuer=SSO_ISSUER,
        jwt_sso_audience=SSO_AUDIENCE,
        jwt_sso_claim="https://switchboard.example/grants",
    )
    token = jwks.sign({"sub": "bo", "https://switchboard.example/grants": {"role": "supervisor"}})
    assert verify_token(settings, token).role == "supervisor"
    assert refused(settings, jwks.sign({"sub": "bo", "switchboard": {"role": "supervisor"}})).code == INVALID_GRANTS


@pytest.mark.parametrize(
    ("case", "code", "words"),
    [
        ("another key, same kid", INVALID_SIGNATURE, "signature"),
        ("another key, unknown kid", INVALID_SIGNATURE, "no key of the identity provider"),
        ("expired", EXPIRED, "expired"),
        ("another issuer", INVALID_ISSUER, "issuer"),
        ("another audience", INVALID_ISSUER, "audience"),
        ("no grants claim", INVALID_GRANTS, "'switchboard'"),
        ("a customer", INVALID_GRANTS, "customers"),
        ("an unknown role", INVALID_GRANTS, "role"),
        ("no subject", INVALID_TOKEN, "sub"),
    ],
)
def test_bad_provider_tokens_are_refused_with_their_code(
    settings: Settings, jwks: JwksServer, case: str, code: int, words: str
) -> None:
    good: dict[str, Any] = {"sub": "alice", "switchboard": AGENT_GRANTS}
    tokens = {
        "another key, same kid": lambda: jwks.sign(good, key=rsa_key()),
        "another key, unknown kid": lambda: jwks.sign(good, key=rsa_key(), kid="rogue"),
        "expired": lambda: jwks.sign(good, ttl=-120),
        "another issuer": lambda: jwks.sign(good, issuer="https://elsewhere.example.test"),
        "another audience": lambda: jwks.sign(good, audience="another-app"),
        "no grants claim": lambda: jwks.sign({"sub": "alice"}),
        "a customer": lambda: jwks.sign({"sub": "alice", "switchboard": {"role": "customer", "channel_sid": "CH1"}}),
        "an unknown role": lambda: jwks.sign({"sub": "alice", "switchboard": {"role": "owner"}}),
        "no subject": lambda: jwks.sign({"switchboard": AGENT_GRANTS}),
    }
    refusal = refused(settings, tokens[case]())
    assert refusal.code == code and words in refusal.message, refusal.message


def test_keys_are_fetched_once_and_cached(tmp_path: Path) -> None:
    server = JwksServer()  # its own, so no other test has warmed the cache
    try:
        settings = test_settings(
            tmp_path, jwt_jwks_url=server.url, jwt_sso_issuer=SSO_ISSUER, jwt_sso_audience=SSO_AUDIENCE
        )
        for n in range(5):
            verify_token(settings, server.sign({"sub": f"user-{n}", "switchboard": AGENT_GRANTS}))
        assert server.fetches == 1
    finally:
        server.close()


def test_unreachable_keys_are_a_clear_refusal(tmp_path: Path, jwks: JwksServer) -> None:
    closed = JwksServer()
    url = closed.url
    closed.close()
    settings = test_settings(tmp_path, jwt_jwks_url=url, jwt_sso_issuer=SSO_ISSUER, jwt_sso_audience=SSO_AUDIENCE)
    refusal = refused(settings, jwks.sign({"sub": "alice", "switchboard": AGENT_GRANTS}))
    assert refusal.code == INVALID_SIGNATURE and "unreachable" in refusal.message


def test_switchboard_tokens_still_work_beside_sso(settings: Settings) -> None:
    token, _ = mint_token(settings, "carol", Grants(role="supervisor"))
    assert verify_token(settings, token).identity == "carol"


def test_without_sso_an_rs256_token_is_refused(tmp_path: Path, jwks: JwksServer) -> None:
    refusal = refused(test_settings(tmp_path), jwks.sign({"sub": "alice", "switchboard": AGENT_GRANTS}))
    assert refusal.code == INVALID_HEADER


def test_sso_needs_an_issuer_and_an_audience(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="jwt_sso_issuer"):
        test_settings(tmp_path, jwt_jwks_url="http://127.0.0.1:9/certs", jwt_sso_issuer=SSO_ISSUER)


def test_keys_are_fetched_over_https_unless_on_loopback(tmp_path: Path) -> None:
    sso = {"jwt_sso_issuer": SSO_ISSUER, "jwt_sso_audience": SSO_AUDIENCE}
    with pytest.raises(ValidationError, match="https"):
        test_settings(tmp_path, jwt_jwks_url="http://idp.example.test/certs", **sso)
    assert test_settings(tmp_path, jwt_jwks_url="https://idp.example.test/certs", **sso).jwt_jwks_url
