"""Telling investigators that something needs their attention: e-mail (SMTP) and a webhook.

A notification never carries case content, the reporter's data, the category, the unit or a
case reference: e-mail and chat systems are read by IT staff and kept in backups. It says only
that something in the channel needs attention, with a link to the inbox. The message is fixed
text, so nothing from a case can ever reach it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

import httpx

from whistle.settings import Settings

SUBJECT = "Visselblåsarfunktionen: något behöver din uppmärksamhet / needs your attention"
BODY = """\
Hej,

Något i visselblåsarfunktionen behöver din uppmärksamhet (ett nytt ärende, ett nytt
meddelande eller en tidsfrist). Logga in för att se vad:

Something in the whistleblowing channel needs your attention (a new case, a new message or a
deadline). Log in to see what:

{link}

Detta meddelande innehåller medvetet inga uppgifter om ärendet.
This message deliberately contains no information about the case.
"""


ACTIVATION_SUBJECT = "Visselblåsarfunktionen: aktivera ditt konto / activate your account"
ACTIVATION_BODY = """\
Hej,

Ett konto i visselblåsarfunktionen har skapats åt dig. Öppna länken inom 7 dagar och välj
ett lösenord. Länken fungerar en gång. Har du inte väntat dig detta: öppna den inte, och
berätta det för den som ansvarar för visselblåsarfunktionen.

An account in the whistleblowing channel has been created for you. Open the link within 7
days and choose a password. The link works once. If you did not expect this, do not open it
and tell the person responsible for the whistleblowing channel.

{link}
"""


class NotifyError(RuntimeError):
    """Delivery failed; the reminders stay unsent and are tried again on the next run."""


def inbox_link(settings: Settings) -> str:
    return settings.base_url.rstrip("/") + "/inbox"


def send_email(settings: Settings, recipients: list[str]) -> None:
    """One fixed, content-free message to each recipient (each gets their own envelope, so
    nobody learns who else is an investigator)."""
    body = BODY.format(link=inbox_link(settings))
    _send(settings, [(address, SUBJECT, body) for address in recipients])


def send_activation(settings: Settings, *, address: str, link: str) -> None:
    """The invitee's one-time activation link, with fixed text and nothing else: it goes to
    the person, not onto the administrator's screen (security review, issue 12, finding 2)."""
    _send(settings, [(address, ACTIVATION_SUBJECT, ACTIVATION_BODY.format(link=link))])


def _send(settings: Settings, messages: list[tuple[str, str, str]]) -> None:
    if not settings.smtp_host or not messages:
        return
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=30) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            for address, subject, body in messages:
                message = EmailMessage()
                message["From"] = settings.smtp_from
                message["To"] = address
                message["Subject"] = subject
                message.set_content(body)
                smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise NotifyError(f"e-mail delivery failed: {type(exc).__name__}") from None


def send_webhook(settings: Settings, client: httpx.Client) -> None:
    _post(
        settings,
        client,
        {
            "text": "Something in the whistleblowing channel needs attention.",
            "link": inbox_link(settings),
        },
    )


# The audit log's head: a number and a hash of the newest entry, which say nothing about any
# case. Kept by people outside the server, it shows a later cut of the log (whistle/audit.py).
HEAD_SUBJECT = "Visselblåsarfunktionen: granskningsloggens kontrollvärde / audit log checkpoint"
HEAD_BODY = """\
Hej,

Här är granskningsloggens kontrollvärde just nu. Spara meddelandet. Om någon senare tar bort
poster ur loggen syns det när värdet prövas med

Here is the audit log's checkpoint as of now. Keep this message. If entries are later removed
from the log, it shows when the value is checked with

    whistle audit-verify --head {token}

{state}

Detta meddelande innehåller medvetet inga uppgifter om något ärende.
This message deliberately contains no information about any case.
"""
HEAD_INTACT = "Loggen var obruten när värdet togs. / The log was intact when this was taken."
HEAD_BROKEN = (
    "VARNING: loggen var redan bruten vid post {entry}. / "
    "WARNING: the log was already broken at entry {entry}."
)


def send_audit_head(
    settings: Settings, client: httpx.Client, *, token: str, broken_at: int | None
) -> None:
    """The head to the function's lead (e-mail) and the webhook; fixed text and the token."""
    state = HEAD_INTACT if broken_at is None else HEAD_BROKEN.format(entry=broken_at)
    if settings.function_lead_email:
        body = HEAD_BODY.format(token=token, state=state)
        _send(settings, [(settings.function_lead_email, HEAD_SUBJECT, body)])
    _post(
        settings,
        client,
        {"text": "Audit log checkpoint. " + state.split(" / ")[1], "audit_head": token},
    )


def _post(settings: Settings, client: httpx.Client, payload: dict[str, str]) -> None:
    if not settings.webhook_url:
        return
    try:
        response = client.post(settings.webhook_url, json=payload, timeout=15)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise NotifyError(f"webhook delivery failed: {type(exc).__name__}") from None
