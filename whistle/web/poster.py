"""The notice-board poster on the web: PDF and PNG, in the chosen language, for administrators
(linked from the overview). The poster holds only public facts: the channel's address, its
onion address and how reporting works."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from whistle import i18n, poster
from whistle.web.auth import require_staff
from whistle.web.context import ctx, locale_of, not_found

FORMATS = {"pdf": "application/pdf", "png": "image/png"}
# Arabic is shaped (HarfBuzz) in the PDF always and in the PNG where Pillow has libraqm; a
# machine without it serves no Arabic PNG rather than one with the letters apart.
POSTER_LOCALES = ("sv", "en", "fi", "ar")


def available(locale: str, kind: str) -> bool:
    if kind not in FORMATS or locale not in POSTER_LOCALES:
        return False
    return kind == "pdf" or poster.can_draw_png(i18n.direction(locale))


def _poster(locale: str, *, organisation: str, url: str, onion: str) -> poster.Poster:
    with i18n.using(locale):
        _ = i18n.gettext
        return poster.Poster(
            title=_("Report wrongdoing safely"),
            subtitle=_("The whistleblowing channel of %(organisation)s", organisation=organisation),
            steps=(
                _(
                    "Scan the code or type the address on a private phone or computer, "
                    "not on the work network."
                ),
                _(
                    "Tell us what happened, anonymously if you wish. Only the designated "
                    "investigators can read it."
                ),
                _("Keep the case code you get. With it you follow your case and answer questions."),
            ),
            address_label=_("Address"),
            url=url,
            onion_label=_("With Tor Browser") if onion else "",
            onion=onion,
            direction="rtl" if i18n.direction(locale) == "rtl" else "ltr",
        )


async def poster_file(request: Request) -> Response:
    await require_staff(request, "admin")
    kind = request.path_params["kind"]
    locale = request.query_params.get("lang") or locale_of(request)
    if not available(locale, kind):
        return not_found(request)
    settings = ctx(request).settings
    content = _poster(
        locale,
        organisation=settings.organisation,
        url=settings.base_url.rstrip("/") + "/",
        onion=settings.onion_address,
    )
    body = poster.pdf(content) if kind == "pdf" else poster.png(content)
    filename = f"poster-{locale}.{kind}"
    headers = {"content-disposition": f'inline; filename="{filename}"'}
    return Response(body, media_type=FORMATS[kind], headers=headers)


routes = [Route("/admin/poster.{kind}", poster_file, methods=["GET"])]
