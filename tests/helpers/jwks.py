"""A stand-in identity provider for single sign-on tests: a real HTTP server on loopback
publishing an RSA public key as a JWKS, and the means to sign tokens with it (or with a key it
does not publish)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

SSO_ISSUER = "https://idp.example.test/realms/support"
SSO_AUDIENCE = "switchboard-desk"
KID = "idp-key-1"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class JwksServer:
    """The provider: ``url`` serves its JWKS; ``settings()`` makes a stack trust it."""

    def __init__(self) -> None:
        self.key = rsa_key()
        self.fetches = 0
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/protocol/openid-connect/certs"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def settings(self) -> dict[str, str]:
        return {"jwt_jwks_url": self.url, "jwt_sso_issuer": SSO_ISSUER, "jwt_sso_audience": SSO_AUDIENCE}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        key: rsa.RSAPrivateKey | None = None,
        kid: str = KID,
        ttl: int = 600,
        issuer: str = SSO_ISSUER,
        audience: str = SSO_AUDIENCE,
    ) -> str:
        """A token as the identity provider issues it (``key``: signed by another key instead)."""
        now = int(time.time())
        payload = {"iss": issuer, "aud": audience, "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid})

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
