"""'Lämna vidare': the handover package download, and the page with the signing public key."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import crypto, package
from whistle.cases import CaseNotFound
from whistle.casework import CaseworkError, reference
from whistle.i18n import N_
from whistle.web import security
from whistle.web.auth import require_staff
from whistle.web.context import call, ctx, locale_of, not_found, render

ERRORS = {
    "nothing-selected": N_("Choose at least one item to hand on."),
    "no-disclosing-handover": N_(
        "The identity can only be handed on after a handover that reveals it has been recorded "
        "on the case page (the reporter is told first)."
    ),
    "too-large": N_("The selected files are too large for one package. Choose fewer."),
    "empty": N_("Say who receives the package."),
    "too-long": N_("This text is too long."),
}


async def package_page(
    request: Request, *, error: str = "", values: dict[str, object] | None = None, status: int = 200
) -> Response:
    staff = await require_staff(request, "investigator")
    case_id = request.path_params["case_id"]
    try:
        items, discloses = await call(
            request,
            package.selectable,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
        )
    except CaseNotFound:
        return not_found(request)
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
        built = await call(
            request,
            package.build,
            case_id=request.path_params["case_id"],
            user_id=staff.user.id,
            private_key=staff.private_key,
            item_ids=[i[:32] for i in form.getlist("item")],
            recipient=form.get("recipient", ""),
            reveal_identity=form.get("reveal") == "yes",
            blob_dir=settings.blob_dir,
            signing_key=signing,
            locale=locale_of(request),
            max_bytes=settings.max_upload_bytes,
        )
    except CaseNotFound:
        return not_found(request)
    except (package.PackageError, CaseworkError) as exc:
        return await package_page(request, error=ERRORS[exc.code], values=values, status=400)
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
