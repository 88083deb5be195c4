"""Languages, from Babel catalogues in whistle/translations.

The reporter side and the information pages speak Swedish (default), English, Finnish (the
Finnish administrative area, lag 2009:724) and Arabic (right to left); the staff side speaks
Swedish and English. The texts the organisation edits itself (routine, introduction, privacy
notice; unit and category names) exist in Swedish and English only.

Message ids are English. The current locale lives in a context variable that the web layer
sets per request, so the one Jinja environment can render any language.

Numbers, sizes and dates are formatted by Babel in the Latin digits (0-9) in every locale:
Babel's ``ar`` uses them by default (CLDR), and :func:`filesize` pins ``numbering_system`` so
a case code, a size and a date read the same as on the poster and in the staff's messages.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from babel import Locale
from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

# Every locale with a catalogue: what a reporter can choose.
LOCALES = ("sv", "en", "fi", "ar")
REPORTER_LOCALES = LOCALES
# The staff side (investigators, administrators, registrars) and its exports.
STAFF_LOCALES = ("sv", "en")
# The languages of the texts the organisation edits (body_sv/body_en, name_sv/name_en).
TEXT_LOCALES = ("sv", "en")
DEFAULT_LOCALE = "sv"
# Each language's name in itself, for the language switch.
NATIVE_NAMES = {"sv": "Svenska", "en": "English", "fi": "Suomi", "ar": "العربية"}
NUMBERING_SYSTEM = "latn"
TRANSLATIONS_DIR = Path(__file__).parent / "translations"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("locale", default=DEFAULT_LOCALE)
_catalogues: dict[str, NullTranslations] = {}


def N_(message: str) -> str:
    """Mark a message id for extraction without translating it here."""
    return message


def load() -> None:
    """Load the compiled catalogues; a missing .mo is an error, not a silent English fallback."""
    for locale in LOCALES:
        mo = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.mo"
        if not mo.exists():
            raise RuntimeError(f"{mo} is missing: run 'make translations' (pybabel compile)")
        with mo.open("rb") as fh:
            _catalogues[locale] = Translations(fh)


def set_locale(locale: str) -> contextvars.Token[str]:
    return _current.set(locale if locale in LOCALES else DEFAULT_LOCALE)


def reset_locale(token: contextvars.Token[str]) -> None:
    """Back to the locale before :func:`set_locale` returned ``token``."""
    _current.reset(token)


@contextlib.contextmanager
def using(locale: str) -> Iterator[None]:
    """Speak ``locale`` (the default for one not offered) inside the block, and the previous
    locale again after it."""
    token = set_locale(locale)
    try:
        yield
    finally:
        reset_locale(token)


def get_locale() -> str:
    return _current.get()


@cache
def direction(locale: str) -> str:
    """``rtl`` for a right-to-left language (Arabic), else ``ltr`` (from Babel's locale data)."""
    return "rtl" if Locale.parse(locale).character_order == "right-to-left" else "ltr"


def text_locale(locale: str) -> str:
    """The language in which an organisation-edited text is shown: the reader's own when the
    organisation writes in it, else Swedish (the organisation's language)."""
    return locale if locale in TEXT_LOCALES else DEFAULT_LOCALE


def pick(sv: str, en: str, locale: str | None = None) -> str:
    """Of a text the organisation keeps in Swedish and English, the one to show in ``locale``
    (default: the current one): English on an English page, Swedish on every other (fi, ar),
    like the templates' ``localized`` macro (templates/partials/names.html)."""
    return en if text_locale(locale or get_locale()) == "en" else sv


def localized(obj: object, field: str = "name", locale: str | None = None) -> str:
    """``obj.<field>_sv`` or ``obj.<field>_en`` (a unit's, a category's name) by :func:`pick`."""
    return pick(getattr(obj, f"{field}_sv"), getattr(obj, f"{field}_en"), locale)


def _catalogue() -> NullTranslations:
    if not _catalogues:
        load()
    return _catalogues[_current.get()]


def gettext(message: str, **variables: object) -> str:
    text = _catalogue().gettext(message)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, n: int, **variables: object) -> str:
    text = _catalogue().ngettext(singular, plural, n)
    return text % {"num": n, **variables}


def date(value: dt.date | None) -> str:
    if value is None:
        return ""
    return _date(value, _current.get())


@functools.lru_cache(maxsize=4096)
def _date(value: dt.date, locale: str) -> str:
    """Babel parses the locale and the pattern on every call; an inbox page prints some 150
    dates, most of them the same few days. Dates are clear metadata, nothing secret is kept."""
    return format_date(value, format="medium", locale=locale)


_UNITS = ((1000**3, "GB"), (1000**2, "MB"), (1000, "kB"))


def filesize(size: int) -> str:
    """A file size for people, in the locale's separators and Latin digits: "516 byte",
    "1,4 kB" (sv); decimal units, one decimal below ten, as file managers show them."""
    locale = _current.get()
    for factor, unit in _UNITS:
        if size >= factor:
            value = size / factor
            pattern = "#,##0.#" if value < 10 else "#,##0"
            number = format_decimal(
                value, format=pattern, locale=locale, numbering_system=NUMBERING_SYSTEM
            )
            return f"{number}\N{NO-BREAK SPACE}{unit}"
    return ngettext("%(num)s byte", "%(num)s bytes", size)
