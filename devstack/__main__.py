"""Command line of the local stack: ``python -m devstack up|down|status|env|airflow|airflow-celery``.

Run with the project's virtualenv and ``PYTHONPATH=plugins:.`` (the Makefile does both).
Environment overrides: ``CRM_PG_PORT`` (54329), ``CRM_EMULATOR_PORT`` (8443),
``CRM_AIRFLOW_PORT`` (8080), ``CRM_DEMO_RECORDS`` (5000), ``CRM_STACK_DIR`` (``.local``).
"""

from __future__ import annotations

import argparse
import sys

from devstack.airflow_setup import AirflowSetupError
from devstack.environment import redacted, write_env_file
from devstack.postgres import PostgresError
from devstack.services import DevStack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start PostgreSQL and the emulator, prepare Airflow (idempotent)")
    commands.add_parser("down", help="stop everything the stack started")
    commands.add_parser("status", help="show what runs")
    env_parser = commands.add_parser("env", help="show the stack's environment (passwords masked)")
    env_parser.add_argument(
        "--shell", action="store_true", help="print export lines instead (for `eval`; includes passwords)"
    )
    commands.add_parser("airflow", help="`up`, then `airflow standalone` in the foreground")
    celery_parser = commands.add_parser(
        "airflow-celery", help="`up`, then Airflow on Celery (Redis broker, N workers) in the foreground"
    )
    celery_parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    args = parser.parse_args(argv)

    try:
        stack = DevStack.from_environ()
        if args.command == "up":
            stack.up()
        elif args.command == "down":
            stack.down()
        elif args.command == "status":
            for service, state in stack.status().items():
                print(f"{service:9} {state}")
        elif args.command == "env":
            if args.shell:
                path = write_env_file(stack.env(base_env={}), stack.env_file)
                sys.stdout.write(path.read_text())
            else:
                for key, value in sorted(redacted(stack.env(base_env={})).items()):
                    print(f"{key}={value}")
        elif args.command == "airflow":
            return stack.run_airflow()
        elif args.command == "airflow-celery":
            from devstack.celery_stack import run_on_dev_stack

            return run_on_dev_stack(stack, workers=args.workers)
    except (StackError, PostgresError, AirflowSetupError) as exc:
        print(f"devstack: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
