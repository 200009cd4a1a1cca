"""`rebates`: the admin command line (serve, token, ...)."""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import socket
import sys
from pathlib import Path

from service.auth import DEFAULT_TTL_SECONDS, Role, issue_token, load_secret
from service.bootstrap import configured_settings
from service.config import Settings
from service.logs import logging_config


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.importer import default_url, url_file

    # JSON logs are for a log shipper: no banner lines (nor its ADMIN token) among them
    readable = settings.log_format == "text"
    app = create_app(settings, announce=readable)
    config = uvicorn.Config(app, host=settings.host, port=settings.port,
                            log_config=logging_config(settings),
                            log_level=settings.log_level.lower(), lifespan="on",
                            server_header=False, proxy_headers=False)
    url = default_url(settings.host, settings.port)
    where = url_file(settings.data_dir)

    class Server(uvicorn.Server):
        """Once listening, leaves its URL in the data directory for `rebates import|export`
        run from another shell (which may not have this one's PORT)."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.started:
                return
            where.parent.mkdir(parents=True, exist_ok=True)
            scratch = where.with_name(where.name + ".tmp")
            scratch.write_text(url + "\n", encoding="utf-8")
            os.replace(scratch, where)
            if readable:
                print(f"Import sales files (from this directory, another shell):\n"
                      f"  .venv/bin/rebates import transactions FILE.csv"
                      f"    # finds {url} through {where}", flush=True)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Here, not after run(): uvicorn re-raises SIGTERM/SIGINT once it has stopped.
            forget()
            await super().shutdown(sockets)

    def forget() -> None:
        with contextlib.suppress(OSError):
            if where.read_text(encoding="utf-8").strip() == url:  # not another instance's
                where.unlink()

    server = Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        forget()
    return 0 if server.started else 3


def _service_url(settings: Settings, given: str | None) -> str:
    """--url, else $REBATES_URL, else what a running `rebates serve` left in the data
    directory, else http://HOST:PORT/graphql from the settings."""
    from service.importer import default_url, url_file

    if given:
        return given
    if os.environ.get("REBATES_URL"):
        return os.environ["REBATES_URL"]
    with contextlib.suppress(OSError):
        written = url_file(settings.data_dir).read_text(encoding="utf-8").strip()
        if written:
            return written
    return default_url(settings.host, settings.port)


def _token(settings: Settings, args: argparse.Namespace) -> int:
    role = Role(args.role)
    if role is Role.DEALER and not args.dealer:
        print("rebates token: --dealer CODE is required with --role DEALER", file=sys.stderr)
        return 2
    token = issue_token(load_secret(settings), sub=args.sub or f"cli-{role.value.lower()}",
                        role=role, dealer=args.dealer, ttl_seconds=int(args.ttl * 3600),
                        issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    print(token)
    return 0


def _import_token(settings: Settings, args: argparse.Namespace) -> str | None:
    """--token, else $REBATES_TOKEN, else a SERVICE token signed with the service's secret."""
    if args.token:
        return str(args.token)
    if os.environ.get("REBATES_TOKEN"):
        return os.environ["REBATES_TOKEN"]
    if not settings.jwt_secret and not (settings.data_dir / "jwt-secret").exists():
        return None  # never invent a secret the service does not know
    return issue_token(load_secret(settings), sub="import-cli", role=Role.SERVICE,
                       ttl_seconds=24 * 3600, issuer=settings.jwt_issuer,
                       audience=settings.jwt_audience)


def _import_file(settings: Settings, args: argparse.Namespace) -> int:
    from service import importer

    try:
        token = _import_token(settings, args)
    except (OSError, RuntimeError) as error:
        print(f"rebates import: cannot sign a token: {error}", file=sys.stderr)
        return 2
    if token is None:
        print("rebates import: no token: pass --token, set REBATES_TOKEN, or set "
              f"REBATES_JWT_SECRET / REBATES_DATA_DIR (no secret in {settings.data_dir})",
              file=sys.stderr)
        return 2
    url = _service_url(settings, args.url)
    return importer.run_cli(args.file, url=url, token=token, batch_size=args.batch_size,
                            restart=args.restart, fmt=args.format, timeout=args.timeout,
                            program=getattr(args, "program", None))


URL_HELP = ("GraphQL endpoint (default $REBATES_URL, else the URL the running 'rebates serve' "
            "wrote to REBATES_DATA_DIR/service.url, else http://127.0.0.1:$PORT/graphql)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="rebates", description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the service (embedded DB unless "
                                              "REBATES_MONGODB_URI is set)")
    serve.set_defaults(run=_serve)
    token = commands.add_parser("token", help="print a bearer token for scripts")
    token.add_argument("--role", required=True, choices=[r.value for r in Role])
    token.add_argument("--dealer", help="dealer code (role DEALER)")
    token.add_argument("--sub", help="subject recorded in audit events")
    token.add_argument("--ttl", type=float, default=DEFAULT_TTL_SECONDS / 3600,
                       help="hours until the token expires (default 8)")
    token.set_defaults(run=_token)

    load = commands.add_parser("import", help="load data into the running service")
    kinds = load.add_subparsers(dest="what", required=True)
    txns = kinds.add_parser(
        "transactions", help="stream a CSV or JSONL file of sales facts to recordTransactions",
        description="Columns/keys: externalId, dealerCode, kind, date, productCode, quantity, "
                    "amount, currency, region (snake_case accepted). Resumable: a re-run "
                    "continues after the last acknowledged batch (FILE.import-state.json); "
                    "refused rows go to FILE.errors.jsonl. Exit code 0: all rows accepted or "
                    "already there; 1: some rows refused; 2: usage or connection error.")
    targets = kinds.add_parser(
        "targets", help="stream a CSV or JSONL file of one program's dealer targets to "
                        "setTargets",
        description="Columns/keys: dealerCode, period, amount (snake_case accepted), for the "
                    "program named by --program. Setting a target again to the same amount "
                    "changes nothing, to another amount replaces it. Resumable like "
                    "'import transactions'; refused rows go to FILE.errors.jsonl (the other "
                    "rows of their batch are stored). Exit codes as for transactions.")
    targets.add_argument("--program", required=True, help="the program code the targets are "
                                                          "for")
    for command in (txns, targets):
        command.add_argument("file", help="FILE.csv or FILE.jsonl")
        command.add_argument("--url", help=URL_HELP)
        command.add_argument("--token", help="bearer token (default $REBATES_TOKEN, else a "
                                             "SERVICE token signed with the data directory's "
                                             "secret)")
        command.add_argument("--batch-size", type=int, default=5000,
                             help="rows per request, at most 5000 (default)")
        command.add_argument("--restart", action="store_true",
                             help="ignore the checkpoint and start from the first line")
        command.add_argument("--format", choices=["csv", "jsonl"],
                             help="file format (default: from the file name)")
        command.add_argument("--timeout", type=float, default=300.0,
                             help="seconds to wait for one batch (default 300)")
        command.set_defaults(run=_import_file)

    export = commands.add_parser("export", help="write data out for other systems")
    exports = export.add_subparsers(dest="what", required=True)
    payout = exports.add_parser(
        "settlement", help="a settled program period's payout lines, for the finance system")
    payout.add_argument("program", help="program code")
    payout.add_argument("period", help="period, e.g. 2026-Q1")
    payout.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    payout.add_argument("--output", type=Path,
                        help="file to write (default settlement-PROGRAM-PERIOD.FORMAT)")
    payout.add_argument("--url", help=URL_HELP)
    payout.add_argument("--token", help="bearer token (default $REBATES_TOKEN, else a FINANCE "
                                        "token signed with the data directory's secret)")
    payout.set_defaults(run=_export_settlement)
    account = exports.add_parser(
        "account", help="a dealer's statement of rebate account (对账单): opening balance, "
                        "entries, closing balance",
        description="Entries oldest first, each with its cause in words (settlement number, "
                    "order id), money in and out, and the balance after it. Dates are "
                    "business dates (REBATES_TIMEZONE).")
    account.add_argument("dealer", help="dealer code")
    account.add_argument("--currency", help="the account's currency (needed only when the "
                                            "dealer has accounts in several)")
    account.add_argument("--from", dest="start", type=_day, metavar="DATE",
                         help="first day listed, e.g. 2026-01-01 (default: the first entry)")
    account.add_argument("--to", dest="end", type=_day, metavar="DATE",
                         help="last day listed (default: the newest entry)")
    account.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    account.add_argument("--output", type=Path,
                         help="file to write (default statement-DEALER-CURRENCY.FORMAT)")
    account.add_argument("--url", help=URL_HELP)
    account.add_argument("--token", help="bearer token (default $REBATES_TOKEN, else a "
                                         "FINANCE token signed with the data directory's "
                                         "secret)")
    account.set_defaults(run=_export_account)
    return top


def _day(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _export_token(settings: Settings, args: argparse.Namespace) -> str | None:
    """--token, else $REBATES_TOKEN, else a FINANCE token signed with the service's secret."""
    token = args.token or os.environ.get("REBATES_TOKEN")
    if token:
        return str(token)
    if not settings.jwt_secret and not (settings.data_dir / "jwt-secret").exists():
        print("rebates export: no token: pass --token or set REBATES_TOKEN", file=sys.stderr)
        return None
    return issue_token(load_secret(settings), sub="export-cli", role=Role.FINANCE,
                       ttl_seconds=3600, issuer=settings.jwt_issuer,
                       audience=settings.jwt_audience)


def _export_settlement(settings: Settings, args: argparse.Namespace) -> int:
    from service import exporter

    token = _export_token(settings, args)
    if token is None:
        return 2
    url = _service_url(settings, args.url)
    return exporter.run_cli(url, token, args.program, args.period, args.format, args.output)


def _export_account(settings: Settings, args: argparse.Namespace) -> int:
    from service import statement

    token = _export_token(settings, args)
    if token is None:
        return 2
    url = _service_url(settings, args.url)
    return statement.run_cli(url, token, args.dealer, args.currency, args.format, args.output,
                             start=args.start, end=args.end, timezone=settings.timezone)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(configured_settings(), args))


if __name__ == "__main__":
    sys.exit(main())
