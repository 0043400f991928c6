#!/usr/bin/python3
"""A real SMTP server on 127.0.0.1 for the tests (mao_testkit::smtp::SmtpServer).

aiosmtpd (Debian's python3-aiosmtpd) on a free port chosen by the kernel. Every message
it accepts is appended to --record as one JSON line: mail_from, rcpt_tos, data, tls
(whether the session was encrypted) and login (the user that logged in, or null).
Prints "PORT <n>" once it listens, then serves until it is killed.

--security none|starttls|tls: plain SMTP; STARTTLS offered and required before MAIL;
or TLS from the first byte. --cert/--key: the certificate for the last two.
--auth USER:PASSWORD: AUTH PLAIN/LOGIN offered (over TLS only) and required.
"""

import argparse
import asyncio
import json
import ssl
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult
except ImportError:
    sys.exit(
        "aiosmtpd is missing: install the python3-aiosmtpd package "
        "(scripts/test.sh does) to run the SMTP tests"
    )


class Recorder:
    """Appends every message to a JSON-lines file."""

    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        transport = server.transport
        implicit_tls = (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None or implicit_tls,
            "login": session.auth_data if session.authenticated else None,
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 2.0.0 OK: recorded"


def authenticator(user, password):
    """Accepts exactly USER with PASSWORD."""

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    return check


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", required=True)
    parser.add_argument(
        "--security", choices=["none", "starttls", "tls"], default="none"
    )
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="USER:PASSWORD")
    args = parser.parse_args()

    context = None
    if args.security != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    auth = {}
    if args.auth:
        user, password = args.auth.split(":", 1)
        auth = {
            "authenticator": authenticator(user, password),
            "auth_required": True,
            # aiosmtpd only counts STARTTLS as TLS; with TLS from the first byte the
            # connection is encrypted all the same.
            "auth_require_tls": args.security == "starttls",
        }

    def protocol():
        return SMTP(
            Recorder(args.record),
            hostname="mao-test-smtp",
            tls_context=context if args.security == "starttls" else None,
            require_starttls=args.security == "starttls",
            **auth,
        )

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(
            protocol,
            host="127.0.0.1",
            port=0,
            ssl=context if args.security == "tls" else None,
        )
    )
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
