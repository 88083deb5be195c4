"""Languages: Swedish (default) and English, from Babel catalogues in whistle/translations.

Message ids are English. The current locale lives in a context variable that the web layer
sets per request, so the one Jinja environment can render either language.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
from pathlib import Path

from babel.dates import format_date
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALES = ("sv", "en")
DEFAULT_LOCALE = "sv"
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


def get_locale() -> str:
    return _current.get()


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
    """A file size for people, in the locale's digits: "516 byte", "1,4 kB" (sv); decimal
    units, one decimal below ten, as file managers show them."""
    locale = _current.get()
    for factor, unit in _UNITS:
        if size >= factor:
            value = size / factor
            pattern = "#,##0.#" if value < 10 else "#,##0"
            return f"{format_decimal(value, format=pattern, locale=locale)}\N{NO-BREAK SPACE}{unit}"
    return ngettext("%(num)s byte", "%(num)s bytes", size)
