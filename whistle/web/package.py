"""'Lämna vidare': the handover package download, and the page with the signing public key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import crypto, package
from whistle.casework import CaseworkError, reference
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.case_page import case_call
from whistle.web.context import ctx, locale_of, render
from whistle.web.errors import message


async def package_page(
    request: Request, *, error: str = "", values: dict[str, object] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    case_id = request.path_params["case_id"]
    items, discloses = await case_call(request, package.selectable, case_id=case_id, staff=staff)
    return render(
        request,
        "investigator/package.html",
        {
            "case_id": case_id,
            "reference": reference(case_id),
            "items": items,
            "discloses": discloses,
            "values": values or {},
            "error": error,
        },
        status=status,
    )


async def package_view(request: Request) -> Response:
    return await package_page(request)


async def package_post(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request, max_fields=1000)
    settings = ctx(request).settings
    signing = ctx(request).keys.signing
    assert signing is not None  # load_keys always makes one
    values: dict[str, object] = {
        "recipient": form.get("recipient", ""),
        "items": form.getlist("item"),
        "reveal": form.get("reveal") == "yes",
    }
    try:
        built = await case_call(
            request,
            package.build,
            staff=staff,
            item_ids=[i[:32] for i in form.getlist("item")],
            recipient=form.get("recipient", ""),
            reveal_identity=form.get("reveal") == "yes",
            blob_dir=settings.blob_dir,
            signing_key=signing,
            locale=locale_of(request),
            max_bytes=settings.max_upload_bytes,
        )
    except (package.PackageError, CaseworkError) as exc:
        return await package_page(
            request, error=message(exc, page="package"), values=values, status=400
        )
    name = f"overlamning-{reference(request.path_params['case_id'])}.zip"
    return Response(
        built.data,
        media_type="application/zip",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def signing_key_page(request: Request) -> Response:
    signing = ctx(request).keys.signing
    public = crypto.signing_public_key(signing).hex() if signing else ""
    return render(request, "pages/signing_key.html", {"public_key": public})


routes = [
    Route("/cases/{case_id}/package", package_view, methods=["GET"]),
    Route("/cases/{case_id}/package", package_post, methods=["POST"]),
    Route("/info/signing-key", signing_key_page, methods=["GET"]),
]
