"""Command line: ``python -m emulator serve|mutate|faults|selfcheck``.

Examples::

    python -m emulator serve --port 8443 --state-dir .local/sf --records 100000
    python -m emulator mutate --url https://127.0.0.1:8443 --cert .local/sf/cert.pem --changes 200
    python -m emulator faults --url https://127.0.0.1:8443 --cert .local/sf/cert.pem set error_rate=0.1 seed=7
    python -m emulator selfcheck --records 1000000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from emulator import (
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_SECURITY_TOKEN,
    DEFAULT_USERNAME,
)

if TYPE_CHECKING:
    from emulator.admin import AdminClient


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Salesforce API emulator")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the API over HTTPS on 127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="TCP port (0: pick a free one)")
    serve.add_argument("--state-dir", type=Path, required=True, help="org database, certificate, jobs")
    serve.add_argument("--records", type=int, default=None,
                       help="Contacts to seed into a FRESH state directory (default 1000; ignored when reusing one)")
    serve.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    serve.add_argument("--username", default=DEFAULT_USERNAME, help=f"login username (default {DEFAULT_USERNAME})")
    serve.add_argument("--password", default=DEFAULT_PASSWORD, help="login password (default: see README)")
    serve.add_argument("--security-token", default=DEFAULT_SECURITY_TOKEN, help="security token (default: see README)")
    serve.add_argument("--consumer-key", default=DEFAULT_CONSUMER_KEY, help="OAuth consumer key (default: see README)")
    serve.add_argument("--consumer-secret", default=DEFAULT_CONSUMER_SECRET,
                       help="OAuth consumer secret (default: see README)")
    serve.add_argument("--api-budget", type=int, default=5_000_000, help="daily API requests maximum")
    serve.add_argument("--bulk-delay", type=float, default=0.0,
                       help="seconds before Bulk 2.0 jobs report JobComplete (default 0)")
    serve.add_argument("--page-size", type=int, default=2000, help="REST query page size (default 2000)")
    serve.add_argument("--bulk-page-size", type=int, default=100_000,
                       help="Bulk 2.0 results page size when the client sends no maxRecords (default 100000)")
    serve.add_argument("--log-level", default="INFO", help="logging level for the server log (default INFO)")

    mutate = sub.add_parser("mutate", help="simulate CRM activity (JSON summary on stdout)")
    target = mutate.add_mutually_exclusive_group(required=True)
    target.add_argument("--url", help="base URL of a running emulator")
    target.add_argument("--state-dir", type=Path, help="write the state directly (no server may be running)")
    mutate.add_argument("--cert", type=Path, help="the server's cert.pem (with --url)")
    mutate.add_argument("--changes", type=int, default=100, help="number of changes (default 100)")
    mutate.add_argument("--seed", type=int, default=None, help="seed (default: a new one per run)")

    faults = sub.add_parser("faults", help="switch fault injection on a running emulator")
    faults.add_argument("--url", required=True)
    faults.add_argument("--cert", type=Path, required=True)
    faults.add_argument("action", choices=("set", "clear", "show"))
    faults.add_argument("settings", nargs="*", help="key=value pairs for 'set' (see README)")

    check = sub.add_parser("selfcheck", help="seed a temporary org and measure REST and Bulk 2.0 throughput")
    check.add_argument("--records", type=int, default=100_000)
    check.add_argument("--seed", type=int, default=1)
    check.add_argument("--keep", type=Path, default=None, help="use (and keep) this state directory")
    check.add_argument("--ingest", type=int, default=100_000, help="records written through a Bulk ingest job")
    return parser


def _admin(url: str, cert: Path | None) -> AdminClient:
    from emulator.admin import AdminClient

    if cert is None:
        raise SystemExit("--cert is required with --url")
    return AdminClient(url, cert)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from emulator.config import ServerConfig
        from emulator.server import serve

        logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.INFO), stream=sys.stderr,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        config = ServerConfig(
            state_dir=args.state_dir.resolve(), port=args.port, records=args.records, seed=args.seed,
            username=args.username, password=args.password, security_token=args.security_token,
            consumer_key=args.consumer_key, consumer_secret=args.consumer_secret, api_budget=args.api_budget,
            bulk_delay=args.bulk_delay, page_size=args.page_size, bulk_page_size=args.bulk_page_size,
        )
        if not 1 <= config.page_size <= 2000:
            print("error: --page-size must be between 1 and 2000", file=sys.stderr)
            return 2
        return serve(config)
    if args.command == "mutate":
        if args.url:
            summary = _admin(args.url, args.cert).mutate(args.changes, args.seed)
        else:
            from emulator.dml import Dml
            from emulator.mutations import ChangeGenerator
            from emulator.server import state_dir_in_use
            from emulator.store import DB_NAME, Store

            state_dir = args.state_dir.resolve()
            if not (state_dir / DB_NAME).exists():
                print(f"error: no org in {state_dir}", file=sys.stderr)
                return 2
            if state_dir_in_use(state_dir):
                print("error: a server is running on this state directory; use --url and --cert",
                      file=sys.stderr)
                return 2
            store = Store(state_dir)
            try:
                summary = ChangeGenerator(store, Dml(store)).run(args.changes, args.seed)
            finally:
                store.close()
        print(json.dumps(summary))
        return 0
    if args.command == "faults":
        from emulator.faults import parse_assignments

        client = _admin(args.url, args.cert)
        if args.action == "clear":
            result = client.clear_faults()
        elif args.action == "show":
            result = client.get_faults()
        else:
            try:
                result = client.set_faults(**parse_assignments(args.settings))
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
        print(json.dumps(result))
        return 0
    if args.command == "selfcheck":
        from emulator.selfcheck import run_selfcheck

        os.environ.pop("REQUESTS_CA_BUNDLE", None)
        return run_selfcheck(args.records, args.seed, args.keep, args.ingest)
    return 2


if __name__ == "__main__":
    sys.exit(main())
