"""The launcher, the CLI contract (READY line, certificate, exit codes) and secrets hygiene."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys

import pytest
from cryptography import x509

from emulator import DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN
from emulator.launcher import REPO_ROOT, start_emulator


def test_ready_line_and_port_zero(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "emulator", "serve", "--port", "0", "--state-dir",
                             str(tmp_path / "org"), "--records", "20"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("READY https://127.0.0.1:")
        port = int(line.strip().rsplit(":", 1)[1])
        assert port > 0
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert (tmp_path / "org" / "org.sqlite").exists()


def test_certificate(emulator):
    cert = x509.load_pem_x509_certificate(emulator.cert_path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    key_mode = stat.S_IMODE((emulator.state_dir / "key.pem").stat().st_mode)
    assert key_mode == 0o600


def test_no_secrets_in_output(emulator, connect):
    sf = connect(emulator)
    sf.query("SELECT Id FROM Contact LIMIT 1")
    log = emulator.log_path.read_text()
    for secret in (DEFAULT_PASSWORD, DEFAULT_SECURITY_TOKEN, sf.session_id):
        assert secret not in log


def test_start_failure_raises_with_log_tail(tmp_path):
    with pytest.raises(RuntimeError) as info:
        start_emulator(tmp_path / "org", extra_args=["--page-size", "0"], timeout=60)
    assert "exited early" in str(info.value)
    assert "--page-size must be between 1 and 2000" in str(info.value)


def test_second_server_on_same_state_dir_is_refused(emulator):
    with pytest.raises(RuntimeError) as info:
        start_emulator(emulator.state_dir, timeout=60, log_path=emulator.state_dir / "second.log")
    assert "another emulator is serving" in str(info.value)


def test_stop_is_idempotent_and_handle_is_a_context_manager(tmp_path):
    with start_emulator(tmp_path / "org", records=10) as emu:
        assert emu.admin().health()["status"] == "ok"
    assert emu.process.poll() == 0
    emu.stop()
    assert emu.process.returncode == 0
