"""Logins (SOAP partner, OAuth2 token endpoint) and session bookkeeping.

Sessions and refresh tokens are persisted, so a restarted server still accepts them; the
admin endpoint (or the ``session_ttl_s`` fault) expires them to exercise client re-login.
Nothing here ever logs a password, token or secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from emulator.faults import Faults
from emulator.ids import make_id
from emulator.schema import ORG_ID
from emulator.store import Store

API_USER_ID = make_id("005", 1)
_LOGIN_FAULT_MESSAGE = "Invalid username, password, security token; or user locked out."


@dataclass(frozen=True)
class Credentials:
    """What a client must present to log in."""

    username: str
    password: str
    security_token: str
    consumer_key: str
    consumer_secret: str

    def password_ok(self, password: str, allow_bare: bool) -> bool:
        """Password plus security token (or, for OAuth, the bare password too)."""
        good = hmac.compare_digest(password, self.password + self.security_token)
        if allow_bare:
            good = good or hmac.compare_digest(password, self.password)
        return good

    def client_ok(self, key: str | None, secret: str | None, need_secret: bool = True) -> bool:
        """Consumer key (and secret) of the connected app."""
        if key is None or not hmac.compare_digest(key, self.consumer_key):
            return False
        if secret is None:
            return not need_secret
        return hmac.compare_digest(secret, self.consumer_secret)


class Sessions:
    """Issued session ids and refresh tokens.

    Args:
        store: Persistence for tokens.
        faults: Consulted for the session time-to-live fault.
    """

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}
        for token, user_id, created in store.conn().execute("SELECT token, user_id, created FROM _sessions"):
            self._cache[token] = (user_id, created)

    def create(self, user_id: str, kind: str) -> str:
        """Issue a new session id (format ``<org id>!<random>``, like Salesforce's)."""
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        created = time.time()
        with self.store.write() as conn:
            conn.execute("INSERT INTO _sessions (token, user_id, kind, created) VALUES (?, ?, ?, ?)",
                         (token, user_id, kind, created))
        with self._lock:
            self._cache[token] = (user_id, created)
        return token

    def validate(self, token: str | None) -> str | None:
        """The user id behind a session id, or None if unknown or expired."""
        if not token:
            return None
        with self._lock:
            entry = self._cache.get(token)
        if entry is None:
            return None
        ttl = self.faults.session_ttl
        if ttl and time.time() - entry[1] > ttl:
            return None
        return entry[0]

    def expire_all(self) -> int:
        """Invalidate every session; returns how many there were."""
        with self.store.write() as conn:
            conn.execute("DELETE FROM _sessions")
        with self._lock:
            count = len(self._cache)
            self._cache.clear()
        return count

    def create_refresh_token(self, user_id: str) -> str:
        """Issue a refresh token for the refresh_token grant."""
        token = f"5Aep{secrets.token_urlsafe(60)}"
        with self.store.write() as conn:
            conn.execute("INSERT INTO _refresh_tokens (token, user_id, created) VALUES (?, ?, ?)",
                         (token, user_id, time.time()))
        return token

    def refresh_user(self, token: str | None) -> str | None:
        """The user a refresh token belongs to, or None."""
        if not token:
            return None
        row = self.store.conn().execute("SELECT user_id FROM _refresh_tokens WHERE token = ?", (token,)).fetchone()
        return row[0] if row else None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def soap_fault(code: str, message: str) -> str:
    """Salesforce's SOAP login fault (HTTP 500); clients read ``sf:exceptionCode``."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode>"
        f"<faultstring>{code}: {escape(message)}</faultstring><detail>"
        f'<sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


class LoginService:
    """Answers SOAP logins and OAuth2 token requests.

    Args:
        credentials: The accepted credentials.
        sessions: Where new sessions are recorded.
    """

    def __init__(self, credentials: Credentials, sessions: Sessions) -> None:
        self.credentials = credentials
        self.sessions = sessions

    def soap_login(self, body: bytes, host: str, version: str) -> tuple[int, str]:
        """Handle ``POST .../services/Soap/u/{version}``; returns (status, XML body)."""
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return 500, soap_fault("INVALID_LOGIN", "Unable to parse the login request")
        values: dict[str, str] = {}
        for element in root.iter():
            name = _local(element.tag)
            if name in ("username", "password") and name not in values:
                values[name] = element.text or ""
        creds = self.credentials
        username, password = values.get("username", ""), values.get("password", "")
        if not (hmac.compare_digest(username, creds.username) and creds.password_ok(password, allow_bare=False)):
            return 500, soap_fault("INVALID_LOGIN", _LOGIN_FAULT_MESSAGE)
        token = self.sessions.create(API_USER_ID, "soap")
        base = f"https://{host}"
        xml = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{ORG_ID[:15]}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{ORG_ID[:15]}</serverUrl>"
            f"<sessionId>{token}</sessionId><userId>{API_USER_ID}</userId>"
            "<userInfo><accessibilityMode>false</accessibilityMode><currencySymbol>$</currencySymbol>"
            f"<organizationId>{ORG_ID}</organizationId><organizationName>Emulated Org</organizationName>"
            f"<userEmail>{escape(creds.username)}</userEmail><userFullName>ETL Integration</userFullName>"
            f"<userId>{API_USER_ID}</userId><userName>{escape(creds.username)}</userName>"
            "<userTimeZone>Etc/UTC</userTimeZone></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return 200, xml

    def _token_response(self, host: str, user_id: str, token: str, refresh: str | None = None) -> dict[str, Any]:
        issued = str(int(time.time() * 1000))
        instance = f"https://{host}"
        signature = base64.b64encode(hmac.new(self.credentials.consumer_secret.encode(),
                                              f"{instance}/id/{ORG_ID}/{user_id}{issued}".encode(),
                                              hashlib.sha256).digest()).decode()
        body = {"access_token": token, "instance_url": instance, "id": f"{instance}/id/{ORG_ID}/{user_id}",
                "token_type": "Bearer", "issued_at": issued, "signature": signature, "scope": "api"}
        if refresh:
            body["refresh_token"] = refresh
        return body

    def oauth_token(self, form: dict[str, str], authorization: str | None, host: str) -> tuple[int, dict[str, Any]]:
        """Handle ``POST .../services/oauth2/token``; returns (status, JSON body)."""
        creds = self.credentials
        grant = form.get("grant_type", "")
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:].strip()).decode()
                client_id, _, client_secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
        bad_grant = {"error": "invalid_grant", "error_description": "authentication failure"}
        if grant == "password":
            if not creds.client_ok(client_id, None, need_secret=False):
                return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
            if not creds.client_ok(client_id, client_secret):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            if not (hmac.compare_digest(form.get("username", ""), creds.username)
                    and creds.password_ok(form.get("password", ""), allow_bare=True)):
                return 400, bad_grant
            token = self.sessions.create(API_USER_ID, "oauth-password")
            return 200, self._token_response(host, API_USER_ID, token)
        if grant == "client_credentials":
            if not creds.client_ok(client_id, client_secret):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            return 200, self._token_response(host, API_USER_ID, self.sessions.create(API_USER_ID, "oauth-client"))
        if grant == "refresh_token":
            if not creds.client_ok(client_id, None, need_secret=False):
                return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
            if client_secret is not None and not creds.client_ok(client_id, client_secret):
                return 400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            user_id = self.sessions.refresh_user(form.get("refresh_token"))
            if user_id is None:
                return 400, {"error": "invalid_grant", "error_description": "expired access/refresh token"}
            return 200, self._token_response(host, user_id, self.sessions.create(user_id, "oauth-refresh"))
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            claims = _jwt_claims(form.get("assertion", ""))
            if claims is None:
                return 400, {"error": "invalid_grant", "error_description": "invalid assertion"}
            if not creds.client_ok(str(claims.get("iss", "")), None, need_secret=False):
                return 400, {"error": "invalid_client_id", "error_description": "client identifier invalid"}
            if not hmac.compare_digest(str(claims.get("sub", "")), creds.username):
                return 400, {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
            return 200, self._token_response(host, API_USER_ID, self.sessions.create(API_USER_ID, "oauth-jwt"))
        return 400, {"error": "unsupported_grant_type", "error_description": "grant type not supported"}


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    """Claims of a JWT assertion (the signature is not checked: the emulator has no certificate store)."""
    parts = assertion.split(".")
    if len(parts) != 3:
        return None
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None
