"""The identity URL every login returns (``/id/{orgId}/{userId}``) and OpenID ``services/oauth2/userinfo``.

Both take the access token as ``Authorization: Bearer`` (or an ``oauth_token`` parameter); a
bad token gets HTTP 403 ``Bad_OAuth_Token`` as on Salesforce. They are counted as ``identity``
calls but never refused by the daily budget.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from emulator.schema import ORG_ID
from emulator.values import rest_datetime
from emulator.web import Request, Response, json_response

if TYPE_CHECKING:
    from emulator.app import EmulatorApp

IDENTITY_PATH = re.compile(r"^/id/([0-9A-Za-z]{15,18})/([0-9A-Za-z]{15,18})/?$")
USERINFO_PATH = re.compile(r"/services/oauth2/userinfo/?$")
API_VERSION = "59.0"


class IdentityRoutes:
    """Handlers of the identity service.

    Args:
        app: The emulator application.
    """

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app

    def _user(self, req: Request) -> str | None:
        header = req.header("Authorization") or ""
        token = header[7:].strip() if header[:7].lower() == "bearer " else req.param("oauth_token")
        return self.app.sessions.validate(token)

    def _record(self, user_id: str) -> dict[str, Any] | None:
        cur = self.app.store.conn().execute('SELECT * FROM "User" WHERE Id = ?', (user_id,))
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    def _urls(self, host: str) -> dict[str, str]:
        base = f"https://{host}"
        org15 = ORG_ID[:15]
        return {
            "enterprise": f"{base}/services/Soap/c/{{version}}/{org15}",
            "metadata": f"{base}/services/Soap/m/{{version}}/{org15}",
            "partner": f"{base}/services/Soap/u/{{version}}/{org15}",
            "rest": f"{base}/services/data/v{{version}}/", "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "search": f"{base}/services/data/v{{version}}/search/", "query": f"{base}/services/data/v{{version}}/query/",
            "recent": f"{base}/services/data/v{{version}}/recent/",
            "tooling_soap": f"{base}/services/Soap/T/{{version}}/{org15}",
            "tooling_rest": f"{base}/services/data/v{{version}}/tooling/",
            "profile": f"{base}/{{user}}", "custom_domain": base,
        }

    def _deny(self) -> Response:
        return Response(403, b"Bad_OAuth_Token", "text/plain;charset=UTF-8")

    def identity(self, req: Request, org_id: str, user_id: str) -> Response:
        """``GET /id/{orgId}/{userId}``: who the token belongs to and where the APIs are."""
        self.app.accounting.count_anyway("identity")
        caller = self._user(req)
        if caller is None:
            return self._deny()
        record = self._record(user_id)
        if record is None or org_id[:15] != ORG_ID[:15]:
            return json_response(404, [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}])
        urls = {k: v.replace("{user}", record["Id"]) for k, v in self._urls(req.host).items()}
        return json_response(200, {
            "id": f"https://{req.host}/id/{ORG_ID}/{record['Id']}", "asserted_user": caller == record["Id"],
            "user_id": record["Id"], "organization_id": ORG_ID, "username": record["Username"],
            "nick_name": record["Username"].split("@")[0], "display_name": record["Name"], "email": record["Email"],
            "email_verified": True, "first_name": record["FirstName"], "last_name": record["LastName"],
            "timezone": "Etc/UTC", "photos": {"picture": None, "thumbnail": None},
            "addr_street": None, "addr_city": None, "addr_state": None, "addr_country": None, "addr_zip": None,
            "mobile_phone": None, "mobile_phone_verified": False, "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None}, "urls": urls, "active": bool(record["IsActive"]),
            "user_type": "STANDARD", "language": "en_US", "locale": "en_US", "utcOffset": 0,
            "last_modified_date": rest_datetime(record["LastModifiedDate"]), "is_app_installed": True,
        })

    def userinfo(self, req: Request) -> Response:
        """``GET services/oauth2/userinfo``: the OpenID Connect claims of the token's user."""
        self.app.accounting.count_anyway("identity")
        caller = self._user(req)
        if caller is None:
            return self._deny()
        record = self._record(caller)
        assert record is not None
        urls = {k: v.replace("{user}", caller) for k, v in self._urls(req.host).items()}
        return json_response(200, {
            "sub": f"https://{req.host}/id/{ORG_ID}/{caller}", "user_id": caller, "organization_id": ORG_ID,
            "preferred_username": record["Username"], "nickname": record["Username"].split("@")[0],
            "name": record["Name"], "email": record["Email"], "email_verified": True,
            "given_name": record["FirstName"], "family_name": record["LastName"], "zoneinfo": "Etc/UTC",
            "photos": {"picture": None, "thumbnail": None}, "profile": f"https://{req.host}/{caller}",
            "picture": None, "address": {}, "is_salesforce_integration_user": False, "urls": urls,
            "active": bool(record["IsActive"]), "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
            "utcOffset": 0, "updated_at": rest_datetime(record["LastModifiedDate"]), "is_app_installed": True,
        })
