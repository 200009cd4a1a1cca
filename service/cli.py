"""`rebates`: the admin command line (serve, token, ...)."""
from __future__ import annotations

import argparse
import logging
import sys

from service.auth import DEFAULT_TTL_SECONDS, Role, issue_token, load_secret
from service.config import Settings, get_settings


def _serve(settings: Settings, _args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app

    app = create_app(settings, announce=True)
    uvicorn.run(app, host=settings.host, port=settings.port,
                log_level=settings.log_level.lower(), lifespan="on",
                server_header=False, proxy_headers=False)
    return 0


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
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.run(settings, args))


if __name__ == "__main__":
    sys.exit(main())
