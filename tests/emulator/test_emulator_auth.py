"""Logins: SOAP partner login, the OAuth2 token endpoint, direct sessions, Airflow's SalesforceHook."""

from __future__ import annotations

import json

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from emulator import (
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)


def test_soap_login_gives_working_session(emulator, connect):
    sf = connect(emulator)
    assert sf.sf_instance == f"127.0.0.1:{emulator.port}"
    assert sf.session_id.startswith("00D")
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0


@pytest.mark.parametrize("field,value", [("password", "wrong"), ("security_token", "nope"),
                                         ("username", "someone@example.com")])
def test_soap_login_rejects_bad_credentials(emulator, connect, field, value):
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        connect(emulator, **{field: value})
    assert info.value.code == "INVALID_LOGIN"
    assert "Invalid username, password, security token" in info.value.auth_message


def test_soap_fault_body_is_salesforce_shaped(emulator):
    body = ('<?xml version="1.0"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:urn="urn:partner.soap.sforce.com"><env:Body><urn:login><urn:username>x</urn:username>'
            '<urn:password>y</urn:password></urn:login></env:Body></env:Envelope>')
    response = requests.post(f"{emulator.url}/services/Soap/u/59.0", data=body,
                             headers={"SOAPAction": "login", "content-type": "text/xml"})
    assert response.status_code == 500
    assert "<sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>" in response.text
    assert "<faultcode>sf:INVALID_LOGIN</faultcode>" in response.text


def test_oauth_password_grant(emulator):
    sf = Salesforce(username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, consumer_key=DEFAULT_CONSUMER_KEY,
                    consumer_secret=DEFAULT_CONSUMER_SECRET, domain=emulator.login_domain)
    assert sf.query("SELECT Id FROM User LIMIT 1")["totalSize"] == 1


@pytest.mark.parametrize("overrides,error", [
    ({"password": "bad"}, "invalid_grant"),
    ({"consumer_secret": "bad"}, "invalid_client"),
    ({"consumer_key": "bad"}, "invalid_client_id"),
])
def test_oauth_password_grant_errors(emulator, overrides, error):
    params = {"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD, "consumer_key": DEFAULT_CONSUMER_KEY,
              "consumer_secret": DEFAULT_CONSUMER_SECRET, "domain": emulator.login_domain, **overrides}
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(**params)
    assert info.value.code == error


def test_oauth_client_credentials(emulator):
    sf = Salesforce(consumer_key=DEFAULT_CONSUMER_KEY, consumer_secret=DEFAULT_CONSUMER_SECRET,
                    domain=f"127.0.0.1:{emulator.port}/mydomain")
    assert sf.describe()["sobjects"]
    with pytest.raises(SalesforceAuthenticationFailed) as info:
        Salesforce(consumer_key=DEFAULT_CONSUMER_KEY, consumer_secret="wrong",
                   domain=f"127.0.0.1:{emulator.port}/mydomain")
    assert info.value.code == "invalid_client"


def test_oauth_refresh_token_grant(emulator):
    token_url = f"{emulator.url}/login.salesforce.com/services/oauth2/token"
    first = requests.post(token_url, data={"grant_type": "password", "client_id": DEFAULT_CONSUMER_KEY,
                                           "client_secret": DEFAULT_CONSUMER_SECRET, "username": DEFAULT_USERNAME,
                                           "password": DEFAULT_PASSWORD + DEFAULT_SECURITY_TOKEN})
    assert first.status_code == 200
    body = first.json()
    assert body["instance_url"] == emulator.url and body["token_type"] == "Bearer"
    assert "refresh_token" not in body  # the username-password flow never returns one on Salesforce
    refresh_token = emulator.admin().issue_refresh_token()
    refreshed = requests.post(token_url, data={"grant_type": "refresh_token", "client_id": DEFAULT_CONSUMER_KEY,
                                               "client_secret": DEFAULT_CONSUMER_SECRET,
                                               "refresh_token": refresh_token})
    assert refreshed.status_code == 200
    new_token = refreshed.json()["access_token"]
    assert new_token != body["access_token"]
    sf = Salesforce(session_id=new_token, instance_url=emulator.url)
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] > 0
    bad = requests.post(token_url, data={"grant_type": "refresh_token", "client_id": DEFAULT_CONSUMER_KEY,
                                         "refresh_token": "not-a-token"})
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    unsupported = requests.post(token_url, data={"grant_type": "authorization_code"})
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_direct_session_and_bad_token(emulator, sf):
    direct = Salesforce(session_id=sf.session_id, instance_url=emulator.url)
    assert direct.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1
    stranger = Salesforce(session_id="00D000000000001!bogus", instance_url=emulator.url)
    with pytest.raises(SalesforceExpiredSession) as info:
        stranger.query("SELECT Id FROM Account")
    assert info.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_session_verify_instead_of_env_bundle(emulator, monkeypatch):
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = requests.Session()
    session.verify = str(emulator.cert_path)
    sf = Salesforce(username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD, security_token=DEFAULT_SECURITY_TOKEN,
                    domain=emulator.login_domain, session=session)
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] > 0


def test_airflow_salesforce_hook(emulator, monkeypatch):
    conn = {"conn_type": "salesforce", "login": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD,
            "extra": {"security_token": DEFAULT_SECURITY_TOKEN, "domain": emulator.login_domain, "version": "59.0"}}
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_EMULATOR", json.dumps(conn))
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    hook = SalesforceHook(salesforce_conn_id="salesforce_emulator")
    fields = hook.get_available_fields("Contact")
    assert {"Email", "Status__c", "SystemModstamp"} <= set(fields)
    result = hook.make_query("SELECT Id, Email FROM Contact WHERE Email != null LIMIT 3")
    assert result["totalSize"] == 3
    assert hook.test_connection()[0] is True
