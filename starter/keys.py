"""`python -m starter.keys`: make, list and revoke portal API keys.

    python -m starter.keys create --user portal@contoso.example --role incentives_admin \\
        --partner-id P-42
    python -m starter.keys create --user review-desk --role reviewer
    python -m starter.keys list
    python -m starter.keys revoke --sha256 3f2a...   (or --user NAME)

`create` makes a random key, appends its SHA-256 (with the user, role and
partner) to `CLAIMS_API_KEYS_FILE` (default .data/api-keys.json) or
`--file`, and prints the key once on standard output: it is stored nowhere,
so keep it in the portal backend's secrets. The file is replaced atomically
and readable by its owner only; a running API picks the change up at once.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from pydantic import ValidationError

from portal.auth import ApiKeyEntry
from portal.auth import ApiKeysError
from portal.auth import dump_key_file
from portal.auth import key_digest
from portal.auth import parse_key_file
from workflows.messages import Role
from workflows.messages import describe_validation_error

DEFAULT_KEYS_FILE = Path(".data/api-keys.json")
KEY_PREFIX = "wck_"
"""Marks a workshop-claims key, so secret scanners and people recognise a leaked one."""


def keys_file_from_env(env: dict[str, str] | None = None) -> Path:
    env = dict(os.environ) if env is None else env
    return Path(env.get("CLAIMS_API_KEYS_FILE", "").strip() or DEFAULT_KEYS_FILE)


def new_key() -> str:
    """A fresh random API key (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def make_entry(key: str, user: str, role: str, partner_id: str | None) -> ApiKeyEntry:
    """The keys-file entry for `key`; raises ValueError naming a bad field."""
    try:
        return ApiKeyEntry.model_validate(
            {"key_sha256": key_digest(key), "user": user, "role": role, "partner_id": partner_id}
        )
    except ValidationError as err:
        raise ValueError(describe_validation_error(err)) from None


def read_entries(path: Path) -> list[ApiKeyEntry]:
    if not path.exists():
        return []
    return parse_key_file(path.read_text(), str(path))


def write_entries(path: Path, entries: Sequence[ApiKeyEntry]) -> None:
    """Replace the file atomically (a reader sees the old or the new list), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(dump_key_file(entries))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_key(path: Path, user: str, role: str, partner_id: str | None) -> str:
    """Make a key, append its entry to the file and return the key (shown once)."""
    key = new_key()
    entry = make_entry(key, user, role, partner_id)
    write_entries(path, [*read_entries(path), entry])
    return key


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m starter.keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="make a key and print it once")
    create.add_argument("--user", required=True, help="who uses the key (becomes the actor)")
    create.add_argument("--role", required=True, choices=get_args(Role))
    create.add_argument(
        "--partner-id", default=None, help="the partner a partner role acts for (not reviewers)"
    )
    listing = commands.add_parser("list", help="list key holders (never the keys)")
    revoke = commands.add_parser("revoke", help="remove keys by hash (prefix) or user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--sha256", help="the key's key_sha256 or a unique prefix of it")
    which.add_argument("--user", help="every key of this user")
    for command in (create, listing, revoke):
        command.add_argument(
            "--file",
            type=Path,
            default=None,
            help="keys file (default: $CLAIMS_API_KEYS_FILE or .data/api-keys.json)",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    path: Path = args.file or keys_file_from_env()
    try:
        if args.command == "create":
            key = create_key(path, args.user, args.role, args.partner_id)
            print(key)
            print(
                f"key for {args.user} ({args.role}) added to {path}; it is shown only this once",
                file=sys.stderr,
            )
        elif args.command == "list":
            for entry in read_entries(path):
                partner = entry.partner_id or "-"
                print(f"{entry.key_sha256[:12]}  {entry.role:<16}  {partner:<16}  {entry.user}")
        else:
            entries = read_entries(path)
            if args.sha256:
                gone = [e for e in entries if e.key_sha256.startswith(args.sha256.lower())]
                if len(gone) > 1:
                    print(f"keys: {args.sha256!r} matches several keys", file=sys.stderr)
                    return 2
            else:
                gone = [e for e in entries if e.user == args.user]
            if not gone:
                print("keys: no such key", file=sys.stderr)
                return 1
            write_entries(path, [e for e in entries if e not in gone])
            print(f"revoked {len(gone)} key(s) in {path}", file=sys.stderr)
    except (ValueError, ApiKeysError, OSError) as err:
        print(f"keys: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
