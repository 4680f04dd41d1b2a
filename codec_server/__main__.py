"""`python -m codec_server new-token NAME`: make an operator token for the codec server."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Sequence

from codec_server.app import TOKENS_FILE_VARIABLE
from codec_server.app import token_sha256


def main(argv: Sequence[str] | None = None) -> int:
    """``new-token NAME``: a fresh operator token, and the line for the tokens file."""
    parser = argparse.ArgumentParser(prog="python -m codec_server")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new-token", help="make a token for an operator")
    new.add_argument("operator", help="who gets it (shown in the codec server's log)")
    args = parser.parse_args(argv)
    token = secrets.token_urlsafe(32)
    entry = {"token_sha256": token_sha256(token), "operator": args.operator}
    print(f"token (give it to {args.operator}; it is not stored): {token}")
    print(f"add to {TOKENS_FILE_VARIABLE}'s list: {json.dumps(entry)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
