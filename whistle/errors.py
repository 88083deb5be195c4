"""The one convention for an error the domain raises for a user to act on.

A domain function that refuses a request raises a subclass of :class:`DomainError` with a
stable ``code`` (lower-case ASCII words joined by dashes, e.g. ``"too-long"``): the code says
*what* is wrong, never how to say it. The web layer turns a code into a translated message in
one place, :func:`whistle.web.errors.message`, which has no default: a code without a message is
a bug (a 500), never a wrong sentence. ``tests/test_error_codes.py`` reads every ``raise`` with
``ast`` and checks that each code has a message.

Subclasses keep their own names (``CaseworkError``, ``AdminError``, …) so that a handler catches
only the errors of the function it calls, and may carry more attributes (``where``,
``item_id``). Errors that reach an operator on the command line (``RetentionError``,
``SettingsError``, ``BackupError``) are not domain errors: they are printed, in English.
"""

from __future__ import annotations


class DomainError(ValueError):
    """A request the domain refuses; ``code`` names the reason (see the module docstring)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
