"""Fixtures for the emulator tests: running servers on port 0 with tmp_path state directories.

Every server's certificate is appended to one CA bundle that ``REQUESTS_CA_BUNDLE`` points at
for the whole session, so the unmodified simple-salesforce client trusts all of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from simple_salesforce import Salesforce

from emulator import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, DEFAULT_USERNAME
from emulator.admin import AdminClient
from emulator.launcher import EmulatorHandle, start_emulator

MAIN_RECORDS = 3000


@pytest.fixture(scope="session")
def ca_bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A CA bundle file holding every test server's certificate, exported as REQUESTS_CA_BUNDLE.

    It starts as a copy of the bundle in use before, so other HTTPS clients in the session keep working.
    """
    import certifi

    bundle = tmp_path_factory.mktemp("ca") / "bundle.pem"
    original = Path(os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where())
    bundle.write_text(original.read_text() if original.is_file() else "")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
        yield bundle


@pytest.fixture(scope="session")
def launch(ca_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., EmulatorHandle]]:
    """Factory: start an emulator (stopped at the end of the session at the latest)."""
    started: list[EmulatorHandle] = []

    def _launch(state_dir: Path | None = None, **kwargs: object) -> EmulatorHandle:
        directory = state_dir or tmp_path_factory.mktemp("org")
        handle = start_emulator(directory, timeout=120, **kwargs)  # type: ignore[arg-type]
        with open(ca_bundle, "a") as bundle:
            bundle.write(handle.cert_path.read_text())
        started.append(handle)
        return handle

    yield _launch
    for handle in started:
        handle.stop()


@pytest.fixture(scope="session")
def emulator(launch: Callable[..., EmulatorHandle]) -> EmulatorHandle:
    """The shared server: a 3,000-Contact org. Tests that break things use their own server."""
    return launch(records=MAIN_RECORDS, seed=7)


@pytest.fixture(scope="session")
def admin(emulator: EmulatorHandle) -> AdminClient:
    """Admin client of the shared server."""
    return emulator.admin()


def _login(handle: EmulatorHandle, **overrides: object) -> Salesforce:
    params: dict[str, object] = {"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD,
                                 "security_token": DEFAULT_SECURITY_TOKEN, "domain": handle.login_domain}
    params.update(overrides)
    return Salesforce(**params)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def connect() -> Callable[..., Salesforce]:
    """``connect(handle, **overrides)``: SOAP login (username + password + token) via the ``domain`` trick."""
    return _login


@pytest.fixture
def sf(emulator: EmulatorHandle) -> Salesforce:
    """A freshly logged-in simple-salesforce client on the shared server."""
    return _login(emulator)


@pytest.fixture
def fresh(launch: Callable[..., EmulatorHandle]) -> Callable[..., EmulatorHandle]:
    """Factory for a dedicated server (for tests that exhaust budgets, inject faults, restart...)."""
    return launch

