"""Proof documents: upload (streamed to the blob store, then attached) and download."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC
from datetime import datetime
from typing import cast
from typing import get_args

from fastapi import Request
from fastapi import Response
from fastapi.responses import FileResponse
from fastapi.routing import APIRouter

from portal.blobs import download_name
from portal.blobs import receive_multipart_upload
from portal.context import PortalDep
from portal.deps import CallerDep
from portal.deps import EngagementId
from portal.deps import UpdateId
from portal.deps import visible_claim
from portal.privacy import as_seen_by
from portal.problems import CLAIM_ACTION_PROBLEMS
from portal.problems import ProblemError
from portal.problems import file_download
from portal.problems import problems
from portal.routes import API_PREFIX
from workflows.messages import AttachDocument
from workflows.messages import ClaimView
from workflows.messages import Document
from workflows.messages import DocumentKind
from workflows.rules import check_action_on
from workflows.rules import check_role

log = logging.getLogger("claims.api")


router = APIRouter(prefix=API_PREFIX)


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["kind", "file"],
                    "properties": {
                        "kind": {"type": "string", "enum": list(get_args(DocumentKind))},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, Office document, image or e-mail; 25 MiB at most",
                        },
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


@router.post(
    "/claims/{engagement_id}/documents",
    response_model=ClaimView,
    tags=["documents"],
    summary="Upload a proof document and attach it",
    openapi_extra=_UPLOAD_SCHEMA,
    responses={**CLAIM_ACTION_PROBLEMS, **problems(413, 415)},
)
async def upload_document(
    engagement_id: EngagementId,
    request: Request,
    caller: CallerDep,
    portal: PortalDep,
    update_id: UpdateId,
) -> ClaimView:
    """Multipart `kind` and `file`: the file is streamed to the blob store, checked by its
    content (PDF, Office, image, e-mail; 25 MiB at most), then attached to the claim
    (`attach_document`, the sniffed content type as `content_type`)."""
    check_role("attach_document", caller.role)
    # The one change that asks first: the upload is costly, so what the claim would
    # refuse anyway is refused before it, by the same rule the claim applies.
    view = await visible_claim(portal, caller, engagement_id)
    check_action_on(
        "attach_document",
        caller.actor,
        engagement_id=engagement_id,
        partner_id=view.partner.id,
        status=view.status,
        deadline=view.deadline_at,
        now=datetime.now(UTC),
    )
    began = time.time()
    upload = await receive_multipart_upload(
        portal.blobs,
        request.headers.get("content-type", ""),
        request.stream(),
        choices={"kind": frozenset(get_args(DocumentKind))},
        owner=engagement_id,
    )
    # The stored blob's attributes are the document's fields, by name.
    document = Document.model_validate(upload.blob, from_attributes=True)
    kind = cast(DocumentKind, upload.fields["kind"])
    msg = AttachDocument(kind=kind, document=document, actor=caller.actor)
    attached = await portal.claims.attach_document(engagement_id, msg, update_id=update_id)
    # The claim's documents now known, what they replaced (and old unattached uploads) go.
    await asyncio.to_thread(
        portal.blobs.release,
        engagement_id,
        keep=_document_hashes(attached),
        replaced=_document_hashes(view) - _document_hashes(attached),
        since=began,
    )
    return as_seen_by(caller, attached)


def _document_hashes(view: ClaimView) -> set[str]:
    """The content hashes of a claim's current documents."""
    documents = (view.proof.results_and_recommendations.document, view.proof.invoice.document)
    return {document.sha256 for document in documents if document is not None}


@router.get(
    "/claims/{engagement_id}/documents/{kind}",
    **file_download(
        Response,
        "documents",
        "Download the current document of a kind",
        "the file, with the content type it was accepted as",
        "*/*",
        404,
    ),
)
async def download_document(
    engagement_id: EngagementId, kind: DocumentKind, caller: CallerDep, portal: PortalDep
) -> Response:
    view = await visible_claim(portal, caller, engagement_id)
    document = getattr(view.proof, kind).document
    if document is None:
        raise ProblemError(
            404, "NotFound", f"no {kind.replace('_', ' ')} document is attached to this claim"
        )
    path = portal.blobs.find(document.sha256)
    if path is None:
        log.error("blob %s of claim %s is missing from the store", document.sha256, engagement_id)
        raise ProblemError(404, "NotFound", "the stored file is missing; upload it again")
    return FileResponse(
        path,
        media_type=document.content_type,
        filename=download_name(document.filename, document.content_type),
        content_disposition_type="attachment",
    )
