"""The messages of the domain's error codes (:mod:`whistle.errors`): one table, one helper.

:data:`MESSAGES` gives every code a user can meet its message (a gettext message id, translated
when the page renders). A code means one thing everywhere, so most pages need nothing more. Where
a page words the same code for its own form, :data:`PAGES` says so explicitly, per page: a
label's "empty" is "Write the label's name.", not the case page's "Write something before
sending.". :func:`message` has no default: an unknown code, or an unknown page, raises
``KeyError`` (a 500 and a failing test) instead of showing a message meant for something else.
``tests/test_error_codes.py`` finds every code the code base raises and checks it has one.

Not a handler module (no routes), so every handler module may import it.
"""

from __future__ import annotations

from whistle.errors import DomainError
from whistle.i18n import N_
from whistle.web.auth import E_CODE, E_LOCKED

CHOOSE = N_("Choose one of the options.")
TOO_LONG = N_("This text is too long.")

MESSAGES: dict[str, str] = {
    # --- a case: casework, duties, workbench, records (the case page's forms)
    "empty": N_("Write something before sending."),
    "too-long": TOO_LONG,
    "closed": N_("The case is closed. Reopen it to write to the reporter."),
    "bad-kind": N_("Choose what to send."),
    "bad-status": CHOOSE,
    "outcome-required": N_("Choose how the case ended before you close it."),
    "already-acknowledged": N_("Receipt has already been confirmed or recorded as withheld."),
    "bad-action": CHOOSE,
    "bad-date": N_("Give the date as YYYY-MM-DD."),
    "bad-ground": CHOOSE,
    "bad-grant": N_("That person cannot be given access to this case."),
    "confirm-recusal": N_("Tick the box to confirm that you have a conflict of interest."),
    "not-registered": N_("This case is not in the register: its unit is not public."),
    "bad-item": CHOOSE,
    "bad-lead": N_("Only a reader of the case can be its lead."),
    "bad-label": CHOOSE,
    "bad-task": CHOOSE,
    "too-many-tasks": N_("This case has too many open tasks. Mark some as done first."),
    "bad-triage": CHOOSE,
    "last-reader": N_(
        "You are the only reader of this case. Give a colleague access before you step aside."
    ),
    # --- the list of labels, search, a leaver's cases (workbench, search, leavers)
    "label-too-long": N_("A label can be at most 40 characters long."),
    "too-many-labels": N_("The list is full. Take a label off the list before adding one."),
    "label-exists": N_("That label is already on the list."),
    "not-investigator": N_("Only investigators can change the list of labels."),
    "term-too-short": N_("Write at least three characters to search for."),
    "bad-leaver": N_("Choose who is leaving."),
    "bad-successor": N_("Choose an active colleague, not the person who is leaving."),
    # --- four eyes (approvals)
    "not-pending": N_("That route is no longer waiting for approval."),
    "not-an-approver": N_(
        "Only an investigator who already reads this kind of report (or the triage group) can "
        "approve a new reader of it."
    ),
    # --- accounts
    "invalid-invitation": N_("This activation link is not valid any more. Ask for a new one."),
    "password-mismatch": N_("The two passwords are not the same."),
    "password-too-short": N_("Use at least 12 characters."),
    "password-too-long": N_("That password is too long."),
    "password-common": N_(
        "That password is one of the most common or leaked passwords, or one of them with a few "
        "digits or characters added. Choose another, for example four or five unrelated words."
    ),
    "wrong-password": N_("Your current password is not right."),
    # The password asked again spends the login's budget (login.reconfirm_password).
    "password-locked": E_LOCKED,
    "recovery-failed": N_("The username or recovery code is not right."),
    # --- administration, routing (and the account codes the admin pages pass on)
    "name-required": N_("Give a name in both Swedish and English."),
    "name-too-long": TOO_LONG,
    "not-found": N_("That item does not exist any more."),
    "not-an-investigator": N_("Choose an active investigator."),
    "no-such-category": CHOOSE,
    "no-such-unit": CHOOSE,
    "invalid-type": CHOOSE,
    "triage-has-no-unit": N_("The triage group covers every unit: choose 'All units'."),
    "invalid-username": N_(
        "Usernames are 2–64 characters: lower-case letters, digits, dots, dashes, underscores."
    ),
    "username-taken": N_("That username is already taken."),
    "display-name-taken": N_(
        "Another account has this name, or one that looks the same. Give the name in a way "
        "that tells the two people apart, for example with a middle name or initial."
    ),
    "invalid-display-name": N_("Give the person's name."),
    "invalid-role": CHOOSE,
    "invalid-email": N_("Give a valid e-mail address, or leave it empty."),
    "not-yourself": N_("You cannot deactivate your own account."),
    "invalid-status": N_("That account cannot be changed this way."),
    # --- the organisation's texts
    "text-required": N_("Write the text in both Swedish and English."),
    "text-too-long": TOO_LONG,
    "saved-meanwhile": N_("Someone saved this text at the same time. Check the newest version."),
    "adopted-in-future": N_("The adoption date cannot be in the future."),
    "reference-too-long": N_("The decision reference is too long (at most 200 characters)."),
    # --- masking, requests for documents, redaction, access requests
    "no-decision": N_("Choose a decision for every item."),
    "no-ground": N_("Choose the legal ground for withholding."),
    "altered": N_(
        "The masked version must be the original text with parts replaced by a marker such "
        "as [[17:3b]]: nothing added, changed or moved."
    ),
    "unknown-ground": N_("A marker names a ground that does not exist. Use one from the list."),
    "nothing-masked": N_("Nothing is masked: replace the parts to hide by a marker, or release."),
    "identity-in-text": N_(
        "This text still contains the reporter's name or contact details. Mask them "
        "(32:3 b OSL): the reporter's identity is never released."
    ),
    "reason-required": N_("Say how and why the file was masked outside the system."),
    "undecided": N_("Decide the request before you export it."),
    "use-delete": CHOOSE,
    "person": N_("Give the name of the person who asks (at least three characters)."),
    "stale": N_("The cases changed since the page was shown. Check the passages again."),
    # --- handover packages
    "nothing-selected": N_("Choose at least one item to hand on."),
    "no-disclosing-handover": N_(
        "The identity can only be handed on after a handover that reveals it has been recorded "
        "on the case page (the reporter is told first)."
    ),
    "too-large": N_("The selected files are too large for one package. Choose fewer."),
    # --- security keys
    "cancelled": N_(
        "The security key did not answer: the request was cancelled, timed out, or the "
        "browser cannot use security keys. Try again."
    ),
    "invalid": N_(
        "The security key's answer could not be accepted (it was meant for another web "
        "address, or it was damaged). Try again."
    ),
    "expired": N_("That security key request has expired or was already used. Try again."),
    "unknown-key": N_("That security key is not registered to this account."),
    "cloned": N_(
        "That security key's answer looks like one from a copied key, so it was refused. Use "
        "another key or the recovery code, and tell your administrator."
    ),
    "needs-prf-key": N_(
        "Your decryption key opens only with a security key that unlocks it. Use that key, or "
        "the recovery code if you have lost it."
    ),
    "duplicate": N_("That security key is registered already."),
    "too-many": N_("An account can have at most 10 security keys. Remove one first."),
    "invalid-name": N_("Give the key a name, at most 64 characters."),
    "not-fresh": N_(
        "To remove a key, log out and log in again with another factor (another key or your "
        "code app), then remove it within 10 minutes."
    ),
    "last-key": N_(
        "Investigators must log in with a security key here, so the last one cannot be "
        "removed. Add another key first."
    ),
    "key-exists": N_("This account has a security key already: log in with it."),
    "wrong-code": E_CODE,
}

# The masking pages: requests for official documents, access requests and redaction.
DOCUMENTS = {
    "empty": N_("Say what is asked for."),
    "bad-date": N_("Give the date as YYYY-MM-DD, no later than today."),
}

# A page's own wording of a code (each code is in MESSAGES too; the test checks).
PAGES: dict[str, dict[str, str]] = {
    "documents": DOCUMENTS,
    "redaction": {
        **DOCUMENTS,
        "reason-required": N_("Say why this is manifestly irrelevant personal data."),
    },
    "labels": {"empty": N_("Write the label's name.")},
    "package": {"empty": N_("Say who receives the package.")},
    "texts": {"bad-date": N_("Write the adoption date as YYYY-MM-DD, for example 2026-03-15.")},
    "readers": {"not-yourself": N_("Someone else must approve a route that makes you a reader.")},
}

# Codes that are raised but never reach a user, each with the reason; message() refuses them.
NOT_SHOWN: dict[str, str] = {
    "bad-span": "masking.check_spans: spans are computed by the code, never typed; a bug",
    "not-invited": "accounts.renew_invitation: the command line only (whistle accounts)",
}


def message(error: DomainError | str, *, page: str = "") -> str:
    """The message id for an error (or its code), in ``page``'s wording if it has its own.

    Raises ``KeyError`` for a code without a message and for an unknown page: there is no
    fallback message."""
    code = error.code if isinstance(error, DomainError) else error
    if page:
        own = PAGES[page]
        if code in own:
            return own[code]
    return MESSAGES[code]
