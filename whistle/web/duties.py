"""Investigator pages for the law's follow-up duties: withheld acknowledgement, feedback,
meetings, minutes, the action log, handovers, and registering an oral report."""

from __future__ import annotations

import functools
from collections.abc import Callable

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import attachments, case_codes, crypto, duties, oral, records, reports, routing
from whistle.cases import CaseNotFound
from whistle.web import security, uploads
from whistle.web.auth import require_staff
from whistle.web.case_page import act_on_case, case_call, case_page, unlock_with_usage
from whistle.web.context import (
    call,
    commit,
    ctx,
    derive_staff,
    not_found,
    redirect,
    render,
    translate,
)


def _yes(name: str) -> Callable[[security.FormFields], bool]:
    return lambda form: form.get(name) == "yes"


async def withhold_ack(request: Request) -> Response:
    return await act_on_case(request, duties.withhold_acknowledgement, ("reason",), "ack")


async def feedback(request: Request) -> Response:
    return await act_on_case(request, duties.give_feedback, ("measures", "reasons"), "feedback")


async def meeting(request: Request) -> Response:
    return await act_on_case(request, duties.propose_meeting, ("proposal",), "meeting")


async def minutes(request: Request) -> Response:
    return await act_on_case(
        request,
        duties.post_minutes,
        ("text",),
        "minutes",
        recording_consent=_yes("recording_consent"),
    )


async def action(request: Request) -> Response:
    return await act_on_case(
        request, duties.record_action, ("action_type", "on", "text"), "actions"
    )


async def handover(request: Request) -> Response:
    return await act_on_case(
        request,
        duties.record_handover,
        ("recipient", "legal_ground", "handed", "no_notice_reason", "notice_text"),
        "handover",
        identity_disclosed=_yes("identity_disclosed"),
        notify_reporter=_yes("notify_reporter"),
    )


async def recording(request: Request) -> Response:
    """Attach the recording of an oral report or meeting: refused unless the reporter's consent
    to this recording is ticked in the same form (consent and recording are one item)."""
    staff = await require_staff(request, "investigator")
    case_id = request.path_params["case_id"]
    key, used = await case_call(request, unlock_with_usage, case_id=case_id, staff=staff)
    settings, cleaner = ctx(request).settings, ctx(request).sandbox
    upload = uploads.Upload(ctx(request).blob_store.batch(), key, case_id, settings.max_case_bytes)
    try:
        received = await uploads.receive(
            request, open_file=upload.open_file, limits=uploads.limits(settings, used=used)
        )
        if received.error is not None:
            error = translate(request, received.error.message, **received.error.variables)
            return await case_page(request, error=error, status=413)
        # Checked before the file is decoded; its sealed upload is deleted below.
        if received.fields.get("consent") != "yes":
            return await case_page(request, error=oral.E_NO_CONSENT, status=400)
        if received.voice is None:
            return await case_page(request, error=oral.E_NO_RECORDING, status=400)
        try:
            prepared = await anyio.to_thread.run_sync(
                functools.partial(
                    attachments.prepare_voice,
                    upload.batch,
                    received.voice,
                    key=key,
                    disguise=False,  # the record of what was said, in the reporter's voice
                    bounds=uploads.voice_bounds(settings),
                    cleaner=cleaner,
                ),
                limiter=cleaner.limiter,
            )
        except attachments.BadVoice:
            error = translate(request, oral.E_BAD_RECORDING, minutes=settings.voice_max_minutes)
            return await case_page(request, error=error, status=400)
        await commit(
            request,
            upload.batch,
            oral.attach_recording,
            case_id=case_id,
            user_id=staff.user.id,
            private_key=staff.private_key,
            recording=prepared,
            consent=True,
            batch=upload.batch,
            max_case_bytes=settings.max_case_bytes,
        )
    except CaseNotFound:
        return not_found(request)
    except attachments.CaseFull:
        limit = uploads.megabytes(settings.max_case_bytes)
        error = translate(request, attachments.E_CASE_FULL, limit=limit)
        return await case_page(request, error=error, status=413)
    finally:
        upload.batch.discard()
    return redirect(f"/cases/{case_id}?done=recording#minutes")


# --- oral reports ------------------------------------------------------------------------------


async def oral_form(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    choices = await call(request, routing.report_choices)
    return render(
        request,
        "investigator/oral.html",
        {**choices, "user": staff.user, "values": {"mode": ""}, "errors": {}},
    )


ORAL_FIELDS = (
    "unit",
    "category",
    "what",
    "when_where",
    "who",
    "how_known",
    "mode",
    "name",
    "contact",
    "waive_ack",
    "minutes",
    "recording_consent",
)


async def oral_register(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    form = await security.read_form(request)
    app = ctx(request)
    code = case_codes.generate()
    try:
        access = await derive_staff(
            request, crypto.derive_case_access, code, app.keys.pepper, app.settings.argon2
        )
        case_id = await call(
            request,
            oral.register,
            form=form,
            user_id=staff.user.id,
            private_key=staff.private_key,
            access=access,
            keys=app.keys,
            records_config=records.RecordsConfig.from_settings(app.settings),
        )
    except (reports.InvalidReport, reports.NoReaders) as exc:
        choices = await call(request, routing.report_choices)
        errors = exc.errors if isinstance(exc, reports.InvalidReport) else {}
        return render(
            request,
            "investigator/oral.html",
            {
                **choices,
                "user": staff.user,
                "values": security.form_values(form, *ORAL_FIELDS),
                "errors": errors,
                "general_error": "" if errors else reports.E_CHOICE,
            },
            status=400,
        )
    # Shown once, to hand to the reporter on paper; never stored.
    return render(
        request,
        "investigator/oral_code.html",
        {"user": staff.user, "code": case_codes.grouped(code), "case_id": case_id},
    )


routes = [
    Route("/cases/{case_id}/withhold-ack", withhold_ack, methods=["POST"]),
    Route("/cases/{case_id}/feedback", feedback, methods=["POST"]),
    Route("/cases/{case_id}/meeting", meeting, methods=["POST"]),
    Route("/cases/{case_id}/minutes", minutes, methods=["POST"]),
    Route("/cases/{case_id}/recording", recording, methods=["POST"]),
    Route("/cases/{case_id}/action", action, methods=["POST"]),
    Route("/cases/{case_id}/handover", handover, methods=["POST"]),
    Route("/oral", oral_form, methods=["GET"]),
    Route("/oral", oral_register, methods=["POST"]),
]
