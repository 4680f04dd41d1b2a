"""Write the portal API's OpenAPI document to openapi.json (or check it is up to date).

    .venv/bin/python scripts/openapi.py          # regenerate openapi.json
    .venv/bin/python scripts/openapi.py --check  # exit 1 if openapi.json is stale

The document is generated from the app (`portal.app:app`), so it always
matches the code; the committed copy lets portal teams read and diff it, and
tests/test_api.py fails when the two differ.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OPENAPI_FILE = ROOT / "openapi.json"


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check, don't write")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from portal.app import app

    text = render(app.openapi())
    if args.check:
        if not OPENAPI_FILE.exists() or OPENAPI_FILE.read_text() != text:
            print(f"{OPENAPI_FILE.name} is stale: run scripts/openapi.py", file=sys.stderr)
            return 1
        return 0
    OPENAPI_FILE.write_text(text)
    print(f"wrote {OPENAPI_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
