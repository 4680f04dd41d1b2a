"""Macros in Office files, found by what the file declares, not by what its parts are called.

An OOXML package says what each part is in `[Content_Types].xml`; a macro
project is a part of type `application/vnd.ms-office.vbaProject` whatever it
is named, a macro-enabled document has a `macroEnabled` main part, and
ActiveX controls (which run code too) are `activeX` parts. A legacy OLE2 file
(.doc, .xls) keeps its macros in storages named `Macros`, `VBA` or
`_VBA_PROJECT_CUR`, found in its directory entries.

The content types are read with a regular expression over the bytes, not an
XML parser: a hostile package can't make us expand entities, and a package
whose content types are not readable this way is not one we accept anyway.
"""

from __future__ import annotations

import re
import struct
import zipfile
from pathlib import Path

CONTENT_TYPES_PART = "[Content_Types].xml"
MAX_CONTENT_TYPES_BYTES = 1024 * 1024
"""More than this in `[Content_Types].xml` is no document of ours."""

_CODE_MARKERS = ("macroenabled", "vbaproject", "vbadata", "activex")
"""Content types and part names of code a document can carry (lower case)."""
_DECLARED_TYPE = re.compile(rb"""ContentType\s*=\s*["']([^"']{1,255})["']""")

OLE_DIRECTORY_ENTRY = 128
_OLE_MACRO_STORAGES = frozenset({"macros", "vba", "_vba_project_cur"})
_OLE_MACRO_STREAMS = frozenset({"_vba_project"})
_OLE_STORAGE, _OLE_STREAM = 1, 2


def ooxml_code(package: zipfile.ZipFile) -> str | None:
    """What in the package carries code (a part name or a declared content type), or None."""
    for name in package.namelist():
        if any(marker in name.lower() for marker in _CODE_MARKERS):
            return name
    info = package.getinfo(CONTENT_TYPES_PART)
    if info.file_size > MAX_CONTENT_TYPES_BYTES:
        return CONTENT_TYPES_PART
    with package.open(info) as handle:
        declared = handle.read(MAX_CONTENT_TYPES_BYTES)
    for match in _DECLARED_TYPE.finditer(declared):
        content_type = match.group(1).decode("ascii", "replace")
        if any(marker in content_type.lower() for marker in _CODE_MARKERS):
            return content_type
    return None


def ole_macros(path: Path) -> str | None:
    """The name of a macro storage or stream in an OLE2 file's directory, or None.

    Directory entries are 128 bytes, aligned on 128 bytes in the file (sectors are
    512 or 4096 bytes and the header is one sector): a UTF-16LE name of up to 32
    characters, its length in bytes (with the closing NUL) at offset 64, its type at 66.
    """
    with path.open("rb") as handle:
        handle.seek(512)  # the header
        while chunk := handle.read(OLE_DIRECTORY_ENTRY * 512):
            for start in range(0, len(chunk) - OLE_DIRECTORY_ENTRY + 1, OLE_DIRECTORY_ENTRY):
                name = _ole_entry_name(chunk[start : start + OLE_DIRECTORY_ENTRY])
                if name is not None:
                    return name
    return None


def _ole_entry_name(entry: bytes) -> str | None:
    """The entry's name when it is a macro storage or stream."""
    (length,) = struct.unpack_from("<H", entry, 64)
    kind = entry[66]
    if kind not in (_OLE_STORAGE, _OLE_STREAM) or not 4 <= length <= 64 or length % 2:
        return None
    raw = entry[: length - 2]
    if entry[length - 2 : length] != b"\x00\x00":
        return None
    try:
        name = raw.decode("utf-16-le")
    except UnicodeDecodeError:
        return None
    macro_names = _OLE_MACRO_STORAGES if kind == _OLE_STORAGE else _OLE_MACRO_STREAMS
    return name if name.lower() in macro_names else None
