"""Uploads (issue 15): macros found by what an Office file declares and by its OLE directory,
downloads named after the type their bytes are; through the real portal app and workflow."""

from __future__ import annotations

import io
import struct
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from portal.blobs import OOXML_TYPES
from portal.blobs import BlobStore
from portal.blobs import download_name
from tests.api_keys import ApiKeyring
from tests.helpers import StartClaim
from tests.helpers import assert_problem
from tests.helpers import download
from tests.helpers import pdf
from tests.helpers import stored_files
from tests.helpers import upload

pytestmark = [pytest.mark.timeout(90), pytest.mark.claims_server("shared")]

DOCX = OOXML_TYPES["word/"]
CONTENT_TYPES = (
    '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
    'content-types"><Default Extension="xml" ContentType="application/xml"/>{}</Types>'
)


def docx(parts: dict[str, bytes], overrides: str = "") -> bytes:
    """A Word package: its content types (with `overrides`), a document part and `parts`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", CONTENT_TYPES.format(overrides))
        package.writestr("word/document.xml", b"<w:document/>")
        for name, content in parts.items():
            package.writestr(name, content)
    return buffer.getvalue()


def override(part: str, content_type: str) -> str:
    return f'<Override PartName="/{part}" ContentType="{content_type}"/>'


def ole_entry(name: str, kind: int) -> bytes:
    """One 128-byte OLE2 directory entry: UTF-16LE name, its byte length, its type."""
    encoded = (name + "\x00").encode("utf-16-le")
    return encoded.ljust(64, b"\x00") + struct.pack("<HB", len(encoded), kind).ljust(64, b"\x00")


def ole_file(*entries: tuple[str, int], body: bytes = b"") -> bytes:
    """An OLE2 compound file: the header sector, a directory sector, then `body`."""
    header = bytes.fromhex("D0CF11E0A1B11AE1").ljust(512, b"\x00")
    directory = b"".join(ole_entry(name, kind) for name, kind in (("Root Entry", 5), *entries))
    return header + directory.ljust(512, b"\x00") + body


ROOT_STORAGE, STREAM = 1, 2

MACRO_PACKAGES = {
    "renamed VBA part declared by type": docx(
        {"word/custom.bin": b"x"},
        override("word/custom.bin", "application/vnd.ms-office.vbaProject"),
    ),
    "macro-enabled main part": docx(
        {},
        override("word/document.xml", "application/vnd.ms-word.document.macroEnabled.main+xml"),
    ),
    "ActiveX control": docx(
        {"word/controls/c1.xml": b"<ax/>"},
        override("word/controls/c1.xml", "application/vnd.ms-office.activeX+xml"),
    ),
}


@pytest.mark.parametrize("content", MACRO_PACKAGES.values(), ids=MACRO_PACKAGES.keys())
async def test_an_office_package_with_code_is_415_whatever_its_parts_are_called(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    blob_dir: Path,
    content: bytes,
    started_eid: str,
) -> None:
    eid = started_eid
    response = await upload(api, eid, keyring.admin, content, filename="report.docx")
    problem = assert_problem(response, 415, "UnsupportedDocumentType")
    assert "macros" in problem["detail"]
    assert stored_files(blob_dir) == []  # a refusal leaves nothing behind


@pytest.mark.parametrize(
    ("entries", "filename"),
    [
        ((("Macros", ROOT_STORAGE), ("VBA", ROOT_STORAGE)), "letter.doc"),
        ((("_VBA_PROJECT_CUR", ROOT_STORAGE),), "sheet.xls"),
    ],
    ids=["Word macros", "Excel macros"],
)
async def test_a_legacy_office_file_with_macros_is_415(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    entries: tuple[tuple[str, int], ...],
    filename: str,
    started_eid: str,
) -> None:
    eid = started_eid
    content = ole_file(("WordDocument", STREAM), *entries)
    response = await upload(api, eid, keyring.admin, content, filename=filename)
    assert_problem(response, 415, "UnsupportedDocumentType")


async def test_a_legacy_office_file_without_macros_is_taken_even_if_its_text_says_macros(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    started_eid: str,
) -> None:
    eid = started_eid
    text = "About Macros and VBA".encode("utf-16-le")
    content = ole_file(("WordDocument", STREAM), ("1Table", STREAM), body=b"\x00" * 3 + text)
    response = await upload(api, eid, keyring.admin, content, filename="notes.doc")
    assert response.status_code == 200, response.text
    document = response.json()["proof"]["results_and_recommendations"]["document"]
    assert document["content_type"] == "application/msword"


@pytest.mark.parametrize(
    ("uploaded_as", "downloaded_as"),
    [
        ("invoice", "invoice.pdf"),
        ("scan.pdf.exe", "scan.pdf.exe.pdf"),
        ("REPORT.PDF", "REPORT.PDF"),
    ],
)
async def test_a_download_is_named_with_the_extension_of_its_sniffed_type(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    uploaded_as: str,
    downloaded_as: str,
    started_eid: str,
) -> None:
    eid = started_eid
    uploaded = await upload(api, eid, keyring.admin, pdf(uploaded_as), filename=uploaded_as)
    assert uploaded.status_code == 200, uploaded.text
    response = await download(api, eid, keyring.user)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{downloaded_as}"'


def test_download_names_keep_a_matching_extension_and_add_the_usual_one_otherwise() -> None:
    assert download_name("photo.JPEG", "image/jpeg") == "photo.JPEG"
    assert download_name("photo.png", "image/jpeg") == "photo.png.jpg"
    assert download_name("plan.docx", DOCX) == "plan.docx"
    assert download_name("plan.doc", DOCX) == "plan.doc.docx"


# --- what the store keeps ---------------------------------------------------------------


def document_path(blob_dir: Path, response: httpx.Response, kind: str) -> Path:
    sha256: str = response.json()["proof"][kind]["document"]["sha256"]
    return blob_dir / sha256[:2] / sha256


async def test_a_replaced_document_is_removed_and_the_current_ones_never_are(
    api: httpx.AsyncClient,
    keyring: ApiKeyring,
    blob_dir: Path,
    started_eid: str,
) -> None:
    eid = started_eid
    first = await upload(api, eid, keyring.admin, pdf("first"))
    invoice = await upload(api, eid, keyring.admin, pdf("invoice"), kind="invoice")
    first_path = document_path(blob_dir, first, "results_and_recommendations")
    assert first_path.is_file()
    second = await upload(api, eid, keyring.admin, pdf("second"))
    assert second.status_code == 200, second.text
    assert not first_path.exists()
    assert document_path(blob_dir, second, "results_and_recommendations").is_file()
    assert document_path(blob_dir, invoice, "invoice").is_file()
    # the same file uploaded again for the same kind is still its current document
    again = await upload(api, eid, keyring.admin, pdf("second"))
    assert document_path(blob_dir, again, "results_and_recommendations").is_file()
    assert (await download(api, eid, keyring.admin)).content == pdf("second")


async def test_content_another_claim_holds_stays_when_one_claim_replaces_it(
    api: httpx.AsyncClient, keyring: ApiKeyring, blob_dir: Path, start_claim: StartClaim
) -> None:
    ours = await start_claim()
    theirs = await start_claim()
    shared = await upload(api, ours, keyring.admin, pdf("shared"))
    await upload(api, theirs, keyring.admin, pdf("shared"))
    await upload(api, ours, keyring.admin, pdf("replacement"))
    assert document_path(blob_dir, shared, "results_and_recommendations").is_file()
    assert (await download(api, theirs, keyring.admin)).content == pdf("shared")


async def test_a_claim_over_its_storage_quota_is_413_and_the_upload_is_not_kept(
    api: httpx.AsyncClient,
    api_app: FastAPI,
    keyring: ApiKeyring,
    blob_dir: Path,
    start_claim: StartClaim,
) -> None:
    store: BlobStore = api_app.state.portal.blobs
    store.claim_quota = len(pdf("one")) + len(pdf("two"))
    eid = await start_claim()
    assert (await upload(api, eid, keyring.admin, pdf("one"))).status_code == 200
    kept = await upload(api, eid, keyring.admin, pdf("two"), kind="invoice")
    assert kept.status_code == 200, kept.text
    before = stored_files(blob_dir)
    refused = await upload(api, eid, keyring.admin, pdf("six"), kind="invoice")
    assert "MiB a claim may store" in assert_problem(refused, 413, "StorageQuotaExceeded")["detail"]
    assert stored_files(blob_dir) == before
    assert store.usage(eid) == store.claim_quota


async def test_an_upload_never_attached_is_released_after_its_grace(tmp_path: Path) -> None:
    store = BlobStore(tmp_path, orphan_grace=3600)
    writer = store.new_writer()
    await writer.write(pdf("orphan"))
    blob = store.finish(writer, "orphan.pdf", owner="E-1")
    path = store.path_for(blob.sha256)
    uploaded = time.time()
    assert store.release("E-1", keep=set(), replaced=set(), since=uploaded) == []
    assert path.is_file()  # within its grace: an attach may still come
    later = uploaded + 3601
    released = store.release("E-1", keep=set(), replaced=set(), since=later, now=later)
    assert released == [blob.sha256]
    assert not path.exists()
    assert store.usage("E-1") == 0
