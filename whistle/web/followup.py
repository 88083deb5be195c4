"""Investigator pages for the law's follow-up duties: withheld acknowledgement, feedback,
meetings, minutes, the action log, handovers, and registering an oral report."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import casecode, crypto, followup, oral, records, reports
from whistle.web import security
from whistle.web.context import call, ctx, derive_staff, render
from whistle.web.investigator import act_on_case
from whistle.web.reporter import report_choices
from whistle.web.staff import require_staff


def _yes(name: str) -> Callable[[security.FormFields], bool]:
    return lambda form: form.get(name) == "yes"


async def withhold_ack(request: Request) -> Response:
    return await act_on_case(request, followup.withhold_acknowledgement, ("reason",), "ack")


async def feedback(request: Request) -> Response:
    return await act_on_case(request, followup.give_feedback, ("measures", "reasons"), "feedback")


async def meeting(request: Request) -> Response:
    return await act_on_case(request, followup.propose_meeting, ("proposal",), "meeting")


async def minutes(request: Request) -> Response:
    return await act_on_case(
        request,
        followup.post_minutes,
        ("text",),
        "minutes",
        recording_consent=_yes("recording_consent"),
    )


async def action(request: Request) -> Response:
    return await act_on_case(
        request, followup.record_action, ("action_type", "on", "text"), "actions"
    )


async def handover(request: Request) -> Response:
    return await act_on_case(
        request,
        followup.record_handover,
        ("recipient", "legal_ground", "handed", "no_notice_reason", "notice_text"),
        "handover",
        identity_disclosed=_yes("identity_disclosed"),
        notify_reporter=_yes("notify_reporter"),
    )


# --- oral reports ------------------------------------------------------------------------------


async def oral_form(request: Request) -> Response:
    staff = await require_staff(request, "investigator")
    choices = await call(request, report_choices)
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
    code = casecode.generate()
    try:
        access = await derive_staff(
            request, crypto.derive_case_access, code, app.keys.pepper, app.settings.argon2
        )
        await call(
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
        choices = await call(request, report_choices)
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
        request, "investigator/oral_code.html", {"user": staff.user, "code": casecode.grouped(code)}
    )


routes = [
    Route("/cases/{case_id}/withhold-ack", withhold_ack, methods=["POST"]),
    Route("/cases/{case_id}/feedback", feedback, methods=["POST"]),
    Route("/cases/{case_id}/meeting", meeting, methods=["POST"]),
    Route("/cases/{case_id}/minutes", minutes, methods=["POST"]),
    Route("/cases/{case_id}/action", action, methods=["POST"]),
    Route("/cases/{case_id}/handover", handover, methods=["POST"]),
    Route("/oral", oral_form, methods=["GET"]),
    Route("/oral", oral_register, methods=["POST"]),
]
