"""The blob store for uploaded proof documents: a folder, files named by their SHA-256.

An upload is streamed from the request into a temporary file in
``<root>/tmp``, hashing and counting as it goes; the 25 MiB limit is enforced
while streaming (the first byte over stops the upload, nothing more is read
or written). Only then is the content checked, by its bytes and not by its
name: PDF, Office documents (OOXML packages of Word, Excel and PowerPoint;
legacy OLE2 files named .doc, .xls, .ppt), images (PNG, JPEG, GIF, WebP,
TIFF) and e-mail messages (an RFC 5322 header block, or an Outlook .msg,
which is OLE2). Accepted content moves into place as
``<root>/<first two hex digits>/<sha256>``; refused content is deleted, so a
refusal leaves nothing behind.

The document's URI is its content name (RFC 6920 ``ni:///sha-256;...``), not
a path: the store can move, to another disk or an object store, without
rewriting any claim's history.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import tempfile
import threading
import time
import zipfile
from collections.abc import AsyncIterator
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import IO
from typing import TYPE_CHECKING

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from portal.office import CONTENT_TYPES_PART
from portal.office import ole_macros
from portal.office import ooxml_code
from workflows.messages import MAX_DOCUMENT_BYTES
from workflows.text import allowed_in_line

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

DEFAULT_BLOB_DIR = Path(".data/blobs")
MAX_FORM_OVERHEAD = 64 * 1024
"""Bytes a multipart upload may carry besides the file (boundaries, headers, the kind)."""
CLAIM_QUOTA_BYTES = 4 * MAX_DOCUMENT_BYTES
"""What one claim's uploads may take in the store: its documents, ones replaced in the same
moment and uploads that were never attached (removed after ORPHAN_GRACE_SECONDS)."""
ORPHAN_GRACE_SECONDS = 24 * 3600
"""How long an upload that is not a claim's document stays: an attach that timed out may
still be applied by the claim later."""
MAX_FIELD_BYTES = 1024
MAX_PARTS = 8
SNIFF_BYTES = 64 * 1024


class UploadRefused(Exception):
    """An upload the store does not keep; `status` and `title` say how the API answers."""

    status = 422
    title = "InvalidInput"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class DocumentTooLarge(UploadRefused):
    status = 413
    title = "DocumentTooLarge"


class DocumentTypeNotAllowed(UploadRefused):
    status = 415
    title = "UnsupportedDocumentType"


class StorageQuotaExceeded(UploadRefused):
    status = 413
    title = "StorageQuotaExceeded"


class InvalidUpload(UploadRefused):
    """Empty file, missing or unknown form field, malformed multipart body."""


# --- content sniffing ---------------------------------------------------------------------

OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
OLE2_TYPES = {
    ".doc": "application/msword",
    ".dot": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
    ".msg": "application/vnd.ms-outlook",
}
OOXML_TYPES = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
EXTENSIONS: Mapping[str, tuple[str, ...]] = {
    "application/pdf": (".pdf",),
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "image/tiff": (".tif", ".tiff"),
    "message/rfc822": (".eml",),
    **{
        content_type: (f".{suffix}",)
        for suffix, content_type in (
            ("docx", OOXML_TYPES["word/"]),
            ("xlsx", OOXML_TYPES["xl/"]),
            ("pptx", OOXML_TYPES["ppt/"]),
        )
    },
    "application/msword": (".doc", ".dot"),
    "application/vnd.ms-excel": (".xls",),
    "application/vnd.ms-powerpoint": (".ppt",),
    "application/vnd.ms-outlook": (".msg",),
}
"""The extensions of each accepted type, the usual one first."""


def download_name(filename: str, content_type: str) -> str:
    """The name a download is saved as: the uploader's name, with the extension of the type
    the content was judged to be (so `invoice.pdf.exe` holding a PDF downloads as
    `invoice.pdf.exe.pdf`, and a saved file opens in the program its bytes are for)."""
    extensions = EXTENSIONS.get(content_type)
    if not extensions or Path(filename).suffix.lower() in extensions:
        return filename
    return f"{filename}{extensions[0]}"


_HEADER_FIELD = re.compile(rb"^[!-9;-~]+:")
_MESSAGE_FIELDS = {b"date", b"subject", b"to", b"message-id", b"received", b"mime-version"}

ALLOWED_TYPES_TEXT = (
    "PDF, Office documents (Word, Excel, PowerPoint), images (PNG, JPEG, GIF, WebP, TIFF) "
    "and e-mail messages (.eml, .msg)"
)


def _image_type(head: bytes) -> str | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    return None


def _is_rfc5322_message(head: bytes) -> bool:
    """A header block of `Name: value` fields (folded lines allowed) ended by an empty line,
    with From and at least one other field a message carries."""
    names: set[bytes] = set()
    lines = head.split(b"\n")
    complete = False
    for index, raw in enumerate(lines):
        line = raw.rstrip(b"\r")
        if not line:
            complete = index > 0
            break
        if line[:1] in (b" ", b"\t"):
            if index == 0:
                return False
            continue
        if not _HEADER_FIELD.match(line):
            return False
        names.add(line.split(b":", 1)[0].lower())
    if not complete and len(head) >= SNIFF_BYTES:
        return False  # no end of the header block within the sniffed bytes
    return b"from" in names and bool(names & _MESSAGE_FIELDS)


def _ooxml_type(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as package:
            names = package.namelist()
            if CONTENT_TYPES_PART not in names:
                return None
            code = ooxml_code(package)
    except Exception:  # any malformed archive is simply not an Office document
        return None
    for prefix, content_type in OOXML_TYPES.items():
        if any(name.startswith(prefix) for name in names):
            if code is not None:
                raise _macros_refused(code)
            return content_type
    return None


def _macros_refused(found: str) -> DocumentTypeNotAllowed:
    return DocumentTypeNotAllowed(
        f"Office documents with macros or ActiveX controls are not accepted (found {found!r}); "
        "save the file without macros"
    )


def _ole2_type(path: Path, filename: str) -> str | None:
    content_type = OLE2_TYPES.get(Path(filename).suffix.lower())
    if content_type is not None:
        found = ole_macros(path)
        if found is not None:
            raise _macros_refused(found)
    return content_type


def sniff_content_type(path: Path, filename: str) -> str | None:
    """The allowed content type of the file at `path`, judged by its bytes; None if not allowed.

    The filename only tells apart kinds of OLE2 file, which share one signature.
    """
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    image = _image_type(head)
    if image is not None:
        return image
    if head.startswith(b"PK\x03\x04"):
        return _ooxml_type(path)
    if head.startswith(OLE2_MAGIC):
        return _ole2_type(path, filename)
    if _is_rfc5322_message(head):
        return "message/rfc822"
    return None


# --- the store ----------------------------------------------------------------------------


def content_uri(sha256: str) -> str:
    """RFC 6920 name of the content: where it is stored is the store's business."""
    digest = base64.urlsafe_b64encode(bytes.fromhex(sha256)).rstrip(b"=").decode()
    return f"ni:///sha-256;{digest}"


def safe_filename(raw: str) -> str:
    """The last path component, without what a one-line field refuses (control and format
    characters, line separators), at most 255 characters."""
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if allowed_in_line(ch)).strip(" .")
    return name[:255] or "document"


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size_bytes: int
    content_type: str
    filename: str
    uri: str


@dataclass
class BlobWriter:
    """A temporary file being filled from a stream: hash, size and limit as it goes."""

    handle: IO[bytes]
    path: Path
    limit: int
    size: int = 0
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    async def write(self, data: bytes) -> None:
        if self.size + len(data) > self.limit:
            raise DocumentTooLarge(
                f"file: larger than the {self.limit // (1024 * 1024)} MiB a document may have"
            )
        self.size += len(data)
        self._hash.update(data)
        await asyncio.to_thread(self.handle.write, data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class BlobStore:
    """Proof documents in a folder, each file named by its SHA-256."""

    def __init__(
        self,
        root: Path,
        max_bytes: int = MAX_DOCUMENT_BYTES,
        *,
        claim_quota: int = CLAIM_QUOTA_BYTES,
        orphan_grace: float = ORPHAN_GRACE_SECONDS,
    ) -> None:
        self.root = root
        self.holdings = root.with_name(f"{root.name}-holdings")
        """Who holds which blob, beside the store: the store itself holds content only."""
        self.max_bytes = max_bytes
        self.claim_quota = claim_quota
        self.orphan_grace = orphan_grace
        self._lock = threading.Lock()

    def path_for(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise ValueError("not a SHA-256 in hex")
        return self.root / sha256[:2] / sha256

    def find(self, sha256: str) -> Path | None:
        """The stored file with this content, if there is one."""
        path = self.path_for(sha256)
        return path if path.is_file() else None

    def new_writer(self) -> BlobWriter:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-", suffix=".part")
        return BlobWriter(handle=os.fdopen(fd, "wb"), path=Path(name), limit=self.max_bytes)

    # Who holds a blob, in `holdings`: `claims/c-<engagement>/<sha256>` (its size) for each
    # claim it was uploaded to, and `holders/<2 hex>/<sha256>/c-<engagement>` the other way
    # round, so a blob is deleted when the last claim lets go of it, never while one holds it.

    def _held_by(self, owner: str) -> Path:
        return self.holdings / "claims" / f"c-{owner}"  # "c-": an id like ".." is no parent

    def _holders_of(self, sha256: str) -> Path:
        return self.holdings / "holders" / sha256[:2] / sha256

    def usage(self, owner: str) -> int:
        """Bytes of the uploads a claim holds."""
        held = self._held_by(owner)
        return sum(int(ref.read_text()) for ref in held.iterdir()) if held.is_dir() else 0

    def _hold(self, owner: str, sha256: str, size: int) -> None:
        """Count an upload against its claim's quota (again the same content: no more)."""
        ref = self._held_by(owner) / sha256
        if not ref.exists() and self.usage(owner) + size > self.claim_quota:
            raise StorageQuotaExceeded(
                f"file: this claim's uploads would take more than the "
                f"{self.claim_quota // (1024 * 1024)} MiB a claim may store"
            )
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(str(size))  # a fresh time: the grace of an unattached upload restarts
        holders = self._holders_of(sha256)
        holders.mkdir(parents=True, exist_ok=True)
        (holders / ref.parent.name).touch()

    def release(
        self, owner: str, keep: set[str], replaced: set[str], since: float, now: float | None = None
    ) -> list[str]:
        """Let go of a claim's uploads that are not its documents (`keep`): the ones its last
        change `replaced` at once (unless uploaded again `since` that change began), any
        other once ORPHAN_GRACE old. A blob no claim holds any more is deleted. Returns the
        released hashes."""
        now = time.time() if now is None else now
        released: list[str] = []
        held = self._held_by(owner)
        with self._lock:
            for ref in sorted(held.iterdir()) if held.is_dir() else []:
                sha256, touched = ref.name, ref.stat().st_mtime
                if sha256 in keep:
                    continue
                if sha256 in replaced and touched >= since:
                    continue
                if sha256 not in replaced and now - touched < self.orphan_grace:
                    continue
                ref.unlink()
                released.append(sha256)
                holders = self._holders_of(sha256)
                (holders / held.name).unlink(missing_ok=True)
                if holders.is_dir() and not any(holders.iterdir()):
                    holders.rmdir()
                    self.path_for(sha256).unlink(missing_ok=True)
        return released

    def finish(self, writer: BlobWriter, filename: str, owner: str | None = None) -> StoredBlob:
        """Check the content and move it into place, or delete it and refuse. With an `owner`
        (the claim it is for), the upload counts against that claim's quota."""
        writer.handle.close()
        try:
            if writer.size == 0:
                raise InvalidUpload("file: is empty")
            content_type = sniff_content_type(writer.path, filename)
            if content_type is None:
                raise DocumentTypeNotAllowed(
                    f"file: this type of file is not accepted (judged by its content, not its "
                    f"name); allowed are {ALLOWED_TYPES_TEXT}"
                )
            target = self.path_for(writer.sha256)
            with self._lock:
                if owner is not None:
                    self._hold(owner, writer.sha256, writer.size)
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    writer.path.unlink()  # the same content is already stored
                else:
                    os.chmod(writer.path, 0o640)
                    os.replace(writer.path, target)
        except BaseException:
            writer.path.unlink(missing_ok=True)
            raise
        return StoredBlob(
            sha256=writer.sha256,
            size_bytes=writer.size,
            content_type=content_type,
            filename=safe_filename(filename),
            uri=content_uri(writer.sha256),
        )


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)


@dataclass
class MultipartUpload:
    """What a `multipart/form-data` upload carried: its plain fields and the stored file."""

    fields: dict[str, str]
    blob: StoredBlob


async def receive_multipart_upload(
    store: BlobStore,
    content_type: str,
    stream: AsyncIterator[bytes],
    *,
    choices: Mapping[str, frozenset[str]],
    file_field: str = "file",
    owner: str | None = None,
) -> MultipartUpload:
    """Stream a `multipart/form-data` body: the one file part into the blob store, the
    plain fields (each required, each one of its `choices`) in memory.

    Raises :class:`UploadRefused`; a refusal stores nothing."""
    field_names = frozenset(choices)
    media_type, params = parse_options_header(content_type)
    if media_type != b"multipart/form-data":
        raise DocumentTypeNotAllowed(
            f"the body must be multipart/form-data with the fields {file_field} and "
            + ", ".join(sorted(field_names))
        )
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise InvalidUpload("the multipart body has no usable boundary")

    events: list[tuple[str, bytes]] = []
    header_name = bytearray()
    header_value = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_name.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        events.append(("header", bytes(header_name).lower() + b"\x00" + bytes(header_value)))
        header_name.clear()
        header_value.clear()

    callbacks: MultipartCallbacks = {
        "on_part_begin": lambda: events.append(("begin", b"")),
        "on_part_data": lambda data, start, end: events.append(("data", data[start:end])),
        "on_part_end": lambda: events.append(("end", b"")),
        "on_header_field": on_header_field,
        "on_header_value": on_header_value,
        "on_header_end": on_header_end,
        "on_headers_finished": lambda: events.append(("headers_done", b"")),
        "on_end": lambda: events.append(("finish", b"")),
    }
    try:
        parser = MultipartParser(
            boundary, callbacks, max_header_count=8, max_header_size=MAX_FIELD_BYTES * 4
        )
    except FormParserError:
        raise InvalidUpload("the multipart body has no usable boundary") from None
    total_limit = store.max_bytes + MAX_FORM_OVERHEAD
    received = 0
    fields: dict[str, str] = {}
    writer: BlobWriter | None = None
    filename = ""
    parts = 0
    part = _Part()
    file_complete = False
    body_complete = False
    finished = False

    def close_writer() -> None:
        if writer is not None and not finished:
            writer.handle.close()
            writer.path.unlink(missing_ok=True)

    try:
        async for chunk in stream:
            received += len(chunk)
            if received > total_limit:
                raise DocumentTooLarge(
                    f"file: larger than the {store.max_bytes // (1024 * 1024)} MiB "
                    "a document may have"
                )
            try:
                parser.write(chunk)
            except FormParserError:
                raise InvalidUpload("the multipart body is malformed") from None
            for kind, data in events:
                if kind == "begin":
                    parts += 1
                    if parts > MAX_PARTS:
                        raise InvalidUpload("the multipart body has too many parts")
                    part = _Part()
                elif kind == "header":
                    header, _, value = data.partition(b"\x00")
                    part.headers[header] = value
                elif kind == "headers_done":
                    disposition = part.headers.get(b"content-disposition", b"").decode("latin-1")
                    _, options = parse_options_header(disposition)
                    part.name = options.get(b"name", b"").decode("utf-8", "replace")
                    if b"filename" in options:
                        part.filename = options[b"filename"].decode("utf-8", "replace")
                    if part.name == file_field:
                        if writer is not None:
                            raise InvalidUpload(f"{file_field}: give one file only")
                        if part.filename is None:
                            raise InvalidUpload(f"{file_field}: must be a file")
                        writer = store.new_writer()
                        filename = part.filename
                    elif part.name not in field_names:
                        raise InvalidUpload(f"{part.name or 'a part'}: is not a known field")
                    elif part.name in fields:
                        raise InvalidUpload(f"{part.name}: give it once")
                elif kind == "data":
                    if part.name == file_field and writer is not None:
                        await writer.write(data)
                    else:
                        if len(part.value) + len(data) > MAX_FIELD_BYTES:
                            raise InvalidUpload(f"{part.name}: too long")
                        part.value.extend(data)
                elif kind == "end":
                    if part.name == file_field:
                        file_complete = True
                    else:
                        fields[part.name] = part.value.decode("utf-8", "replace")
                elif kind == "finish":
                    body_complete = True
            events.clear()
        try:
            parser.finalize()
        except FormParserError:
            raise InvalidUpload("the multipart body is malformed") from None
        if writer is None:
            raise InvalidUpload(f"{file_field}: is required")
        if not (file_complete and body_complete):
            raise InvalidUpload("the multipart body is incomplete")
        for field_name, allowed in sorted(choices.items()):
            if field_name not in fields:
                raise InvalidUpload(f"{field_name}: is required")
            if fields[field_name] not in allowed:
                raise InvalidUpload(f"{field_name}: must be one of {', '.join(sorted(allowed))}")
        blob = await asyncio.to_thread(store.finish, writer, filename, owner)
        finished = True
        return MultipartUpload(fields=fields, blob=blob)
    finally:
        close_writer()
