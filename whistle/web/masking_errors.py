"""The messages for the masking and decision errors that requests for official documents
(:mod:`whistle.web.disclosure`), redaction (:mod:`whistle.web.redaction`) and access requests
(:mod:`whistle.web.access_requests`) share. Not a handler module (no routes), so those three
import it rather than one another."""

from __future__ import annotations

from whistle.i18n import N_

ERRORS = {
    "bad-date": N_("Give the date as YYYY-MM-DD, no later than today."),
    "empty": N_("Say what is asked for."),
    "too-long": N_("This text is too long."),
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
}
