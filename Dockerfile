# The crm-sync production image: the official Airflow image, our pinned runtime
# requirements, and the project's dags/, plugins/ and include/ (docs/deployment.md).
#
#   docker build -t crm-sync:latest .                   # production (the default target)
#   docker build --target demo -t crm-sync-demo:latest .  # + the Salesforce emulator, for the demo
#
# The emulator, the dev stack, the tests, the benchmarks and the dev tooling never enter
# the production target.
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11

FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION} AS runtime
ARG AIRFLOW_VERSION
ARG PYTHON_VERSION
# Airflow's constraints for this Airflow and Python version. Our own pins win: the lines
# for the packages in deploy/requirements-image.txt are dropped from the constraints, every
# other package is held to them, and `apache-airflow` is named so pip never changes it.
ARG AIRFLOW_CONSTRAINTS_URL=https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-${PYTHON_VERSION}.txt

USER airflow
COPY --chown=airflow:0 deploy/requirements-image.txt /opt/crm-sync/requirements-image.txt
RUN set -eu; \
    curl -fsSL "${AIRFLOW_CONSTRAINTS_URL}" -o /tmp/constraints.txt; \
    pinned="$(sed -E -n 's/^([A-Za-z0-9._-]+)(\[[^]]*\])?==.*/\1/p' /opt/crm-sync/requirements-image.txt | paste -sd'|')"; \
    grep -v -i -E "^(${pinned})==" /tmp/constraints.txt > /tmp/constraints-others.txt; \
    pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/crm-sync/requirements-image.txt -c /tmp/constraints-others.txt; \
    rm -f /tmp/constraints.txt /tmp/constraints-others.txt; \
    pip check

# Airflow puts dags/ and plugins/ on sys.path; include/ is found next to them.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 include/ /opt/airflow/include/
COPY --chown=airflow:0 deploy/airflow/ /opt/crm-sync/airflow/
# Mount points of the shared volumes: a new named volume takes this ownership.
RUN mkdir -p /opt/crm-sync/ca /opt/crm-sync/emulator-state /opt/crm-sync/secrets
ENV AIRFLOW__CORE__LOAD_EXAMPLES=False \
    PYTHONPATH=/opt/airflow/plugins:/opt/airflow/dags

# The demo: the production image plus the Salesforce emulator (`docker compose --profile demo up`).
FROM runtime AS demo
COPY --chown=airflow:0 emulator/ /opt/crm-sync/emulator/
ENV PYTHONPATH=/opt/crm-sync:/opt/airflow/plugins:/opt/airflow/dags

# The default target (last): production.
FROM runtime AS production
