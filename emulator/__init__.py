"""Salesforce API emulator: an HTTPS server on loopback that simple-salesforce talks to.

Run it with ``python -m emulator serve --port 0 --state-dir DIR --records N``; start it from
Python with :func:`emulator.launcher.start_emulator`; drive it with
:class:`emulator.admin.AdminClient`.
"""

from __future__ import annotations

DEFAULT_USERNAME = "etl@example.com"
DEFAULT_PASSWORD = "emulator-password"
DEFAULT_SECURITY_TOKEN = "emulator-token"
DEFAULT_CONSUMER_KEY = "emulator-client"
DEFAULT_CONSUMER_SECRET = "emulator-secret"

__all__ = [
    "DEFAULT_CONSUMER_KEY",
    "DEFAULT_CONSUMER_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_SECURITY_TOKEN",
    "DEFAULT_USERNAME",
]
