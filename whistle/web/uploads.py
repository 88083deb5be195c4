"""Forms with files: parsing the body as it arrives, sealing each file before it touches the
disk, stopping at a limit, and sending a file back decrypted while it streams.

Starlette's ``request.form()`` spools files to a plaintext temporary file, so upload routes never
call it for multipart bodies: python-multipart's streaming parser runs over ``request.stream()``
and every file byte goes straight into a blob writer of the configured store
(``whistle.blobstore``: a file or chunk rows, sealed 64 KiB at a time). Text fields come first
in every form (the file input is last), so when a file breaks a limit the handler stops reading
and still has every typed field to show again.
"""

from __future__ import annotations

import functools
import re
import shutil
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import anyio.to_thread
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import StreamingResponse

from whistle import attachments, blobstore, sandbox
from whistle.i18n import N_
from whistle.models import new_id
from whistle.settings import Settings
from whistle.web import security
from whistle.web.context import ctx, translate

FILE_FIELD = "files"
# One recorded or chosen voice message (`<input type="file" accept="audio/*" capture>`).
VOICE_FIELD = "voice"
MAX_FIELDS = 100
MAX_FIELD_BYTES = 256 * 1024
# The routes that take files; BodyLimitMiddleware gives them the upload cap (see app.py).
UPLOAD_PATHS = (
    re.compile(r"/report"),
    re.compile(r"/case/reply"),
    re.compile(r"/cases/\w+/post"),
    re.compile(r"/cases/\w+/recording"),
)

E_FILE_TOO_LARGE = N_("A file is larger than %(limit)s. Choose a smaller file, or split it up.")
E_UPLOAD_TOO_LARGE = N_("The files together are larger than %(limit)s. Send fewer at a time.")
E_TOO_MANY_FILES = N_("You can attach at most %(count)s files at a time.")
E_DISK_FULL = N_(
    "Your files could not be stored: the server is short of disk space. Your text was sent. "
    "Add the files later from your case, with your case code."
)


class LimitExceeded(Exception):
    """A file broke a limit; the rest of the body is not read."""

    def __init__(self, message: str, **variables: object) -> None:
        super().__init__(message)
        self.message = message
        self.variables = variables


@dataclass(frozen=True)
class Limits:
    file_bytes: int
    request_bytes: int
    case_bytes: int
    case_bytes_left: int
    files: int


def megabytes(n: int) -> str:
    return f"{max(n, 0) // (1024 * 1024)} MB"


@dataclass
class Received:
    fields: security.FormFields
    files: list[tuple[blobstore.Writer, str]] = field(default_factory=list)
    error: LimitExceeded | None = None
    refused: int = 0  # files dropped unread because the disk is nearly full
    voice: blobstore.Writer | None = None


class _Parts:
    """The parser's callbacks: collects text fields, streams file parts into sealed blobs."""

    def __init__(
        self,
        *,
        open_file: Callable[[], blobstore.Writer],
        limits: Limits,
        csrf_cookie: str,
        refuse_files: bool = False,
    ) -> None:
        self.open_file = open_file
        self.limits = limits
        self.csrf_cookie = csrf_cookie
        self.refuse_files = refuse_files
        self.refused = 0
        self.fields = security.FormFields()
        self.files: list[tuple[blobstore.Writer, str]] = []
        self.voice: blobstore.Writer | None = None
        self.total = 0
        self.text_bytes = 0
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}
        self._name = ""
        self._value: bytearray | None = None
        self._writer: blobstore.Writer | None = None

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda d, s, e: self._header_name.extend(d[s:e]),
            "on_header_value": lambda d, s, e: self._header_value.extend(d[s:e]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._value, self._writer = {}, None, None

    def _header_end(self) -> None:
        self._headers[bytes(self._header_name).lower()] = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = options.get(b"name", b"").decode("utf-8", "replace")
        if b"filename" not in options:
            if sum(len(values) for values in self.fields.lists.values()) >= MAX_FIELDS:
                raise HTTPException(status_code=400)
            self._value = bytearray()
            return
        filename = options[b"filename"].decode("utf-8", "replace")
        if self._name not in (FILE_FIELD, VOICE_FIELD) or not filename:
            return  # an empty file input sends a part with no name and no bytes: skip it
        self.check_csrf()  # nothing is written to disk for a forged request
        if self.refuse_files:
            self.refused += 1  # its bytes are read and dropped: the disk is nearly full
            return
        if self._name == VOICE_FIELD:
            if self.voice is not None or self.limits.files == 0:
                raise LimitExceeded(E_TOO_MANY_FILES, count=self.limits.files)
            # Sealed as it streams in, like any file: the original recording never reaches
            # the disk in the clear.
            self._writer = self.voice = self.open_file()
            return
        if len(self.files) >= self.limits.files:
            raise LimitExceeded(E_TOO_MANY_FILES, count=self.limits.files)
        self._writer = self.open_file()
        self.files.append((self._writer, attachments.clean_name(filename)))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        size = end - start
        if self._value is not None:
            self.text_bytes += size
            if len(self._value) + size > MAX_FIELD_BYTES or self.text_bytes > 4 * MAX_FIELD_BYTES:
                raise HTTPException(status_code=413)
            self._value += data[start:end]
        elif self._writer is not None:
            if self._writer.size + size > self.limits.file_bytes:
                raise LimitExceeded(E_FILE_TOO_LARGE, limit=megabytes(self.limits.file_bytes))
            if self.total + size > min(self.limits.request_bytes, self.limits.case_bytes_left):
                if self.limits.case_bytes_left < self.limits.request_bytes:
                    limit = megabytes(self.limits.case_bytes)
                    raise LimitExceeded(attachments.E_CASE_FULL, limit=limit)
                raise LimitExceeded(E_UPLOAD_TOO_LARGE, limit=megabytes(self.limits.request_bytes))
            self.total += size
            self._writer.write(data[start:end])

    def _part_end(self) -> None:
        if self._value is not None:
            value = self._value.decode("utf-8")  # UnicodeDecodeError: a 400 (see receive)
            self.fields.setdefault(self._name, value)
            self.fields.lists.setdefault(self._name, []).append(value)
        self._value, self._writer = None, None

    def _end(self) -> None:
        self.ended = True

    def check_csrf(self) -> None:
        security.check_csrf(self.csrf_cookie, self.fields.get(security.CSRF_FIELD, ""))


def is_multipart(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type == "multipart/form-data"


async def receive(
    request: Request,
    *,
    open_file: Callable[[], blobstore.Writer],
    limits: Limits,
    refuse_files: bool = False,
) -> Received:
    """Read a form, streaming its files into sealed blobs made by ``open_file``.

    A body that is not multipart goes through :func:`security.read_form` (no files). On a
    limit the rest of the body is left unread and ``error`` is set; the caller discards the
    blobs (it owns the batch, and discards it on any exception too).
    """
    if not is_multipart(request):
        return Received(await security.read_form(request))
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary", b"")
    if not boundary:
        raise HTTPException(status_code=400)
    parts = _Parts(
        open_file=open_file,
        limits=limits,
        csrf_cookie=request.cookies.get(security.csrf_cookie(request), ""),
        refuse_files=refuse_files,
    )
    try:
        parser = MultipartParser(boundary, callbacks=parts.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            # Sealing and writing run in a worker thread; if the client goes away the thread
            # still finishes its chunk before the caller's cleanup runs (anyio waits for it).
            await anyio.to_thread.run_sync(parser.write, chunk)
    except LimitExceeded as exc:
        return Received(parts.fields, [], exc)
    except (FormParserError, UnicodeDecodeError):
        raise HTTPException(status_code=400) from None
    except ClientDisconnect:
        # Nobody is left to answer; the caller's cleanup removes what was written.
        raise HTTPException(status_code=400) from None
    if not parts.ended:
        raise HTTPException(status_code=400)  # the body stopped before its last boundary
    parts.check_csrf()
    return Received(parts.fields, parts.files, refused=parts.refused, voice=parts.voice)


async def text_only(request: Request) -> tuple[security.FormFields, bool]:
    """The text fields of a form whose files cannot be kept, and whether it carried a file.

    For a reply posted after the reporter's session expired: there is no case key to seal the
    files under, so none is written anywhere; parsing stops at the first file part (the text
    comes before the file input in the form) and the CSRF token is still checked.
    """
    if not is_multipart(request):
        return await security.read_form(request), False

    def refuse() -> blobstore.Writer:
        raise AssertionError("no file is opened without a key")  # files=0 stops before this

    none = Limits(file_bytes=0, request_bytes=0, case_bytes=0, case_bytes_left=0, files=0)
    received = await receive(request, open_file=refuse, limits=none)
    return received.fields, received.error is not None


@dataclass
class Upload:
    """The files of one request, sealed under the key of the case they will belong to."""

    batch: blobstore.Batch
    key: bytes
    case_id: str
    max_case_bytes: int
    files: list[attachments.Prepared] = field(default_factory=list)
    refused: str = ""  # a translated note when files were refused for lack of disk space
    bad_voice: str = ""  # a translated note when a voice message could not be used

    @property
    def spoken(self) -> bool:
        """Whether a voice message was received and re-encoded."""
        return any(f.status in attachments.VOICE_STATUSES for f in self.files)

    def open_file(self) -> blobstore.Writer:
        return self.batch.open(key=self.key, case_id=self.case_id, item_id=new_id())


def disk_low(settings: Settings) -> bool:
    """True when the blob store's disk has less free space than the setting asks to keep.

    Unlimited reports could otherwise fill the disk, and a full disk stops the database too;
    attachments are refused, never the text (it is small and always filed).

    Only for the files store: with ``WHISTLE_BLOB_STORE=database`` no file reaches this host's
    disk (the chunks are rows on the database server, whose disk is watched where it runs),
    so nothing is checked here."""
    if settings.effective_blob_store != blobstore.FILES:
        return False
    return free_bytes(settings) < settings.min_free_disk_mb * 1024 * 1024


def free_bytes(settings: Settings) -> int:
    """Free space on the disk that holds the blob store (or the nearest existing parent)."""
    path = settings.blob_dir.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def limits(settings: Settings, *, used: int) -> Limits:
    return Limits(
        file_bytes=settings.max_file_bytes,
        request_bytes=settings.max_upload_bytes,
        case_bytes=settings.max_case_bytes,
        case_bytes_left=settings.max_case_bytes - used,
        files=settings.max_files,
    )


async def receive_files(
    request: Request, upload: Upload, *, used: int
) -> tuple[security.FormFields, str]:
    """The form's fields, with its files sealed and cleaned into ``upload.files``; or the
    fields and a translated message when a limit stopped the upload."""
    settings = ctx(request).settings
    received = await receive(
        request,
        open_file=upload.open_file,
        limits=limits(settings, used=used),
        refuse_files=disk_low(settings),
    )
    if received.refused:
        upload.refused = translate(request, E_DISK_FULL)
    if received.error is not None:
        upload.batch.discard()
        error = received.error
        return received.fields, translate(request, error.message, **error.variables)
    upload.files = await prepare_all(
        upload.batch,
        received,
        cleaner=ctx(request).sandbox,
        key=upload.key,
        keep_original=received.fields.get("keep_original") == "yes",
        scrub_max_bytes=settings.scrub_max_bytes,
    )
    if received.voice is not None:
        await _prepare_voice(request, upload, received)
    return received.fields, ""


def voice_bounds(settings: Settings) -> attachments.VoiceBounds:
    return attachments.VoiceBounds(
        max_bytes=min(settings.scrub_max_bytes, settings.max_file_bytes),
        max_seconds=settings.voice_max_minutes * 60,
        time_limit=settings.voice_seconds,
    )


async def _prepare_voice(request: Request, upload: Upload, received: Received) -> None:
    """The voice message decoded, disguised (unless ``keep_voice``) and re-encoded in a
    worker, first among the files; or a note for the reporter, nothing of it kept."""
    assert received.voice is not None
    settings, cleaner = ctx(request).settings, ctx(request).sandbox
    try:
        prepared = await anyio.to_thread.run_sync(
            functools.partial(
                attachments.prepare_voice,
                upload.batch,
                received.voice,
                key=upload.key,
                disguise=received.fields.get("keep_voice") != "yes",
                bounds=voice_bounds(settings),
                cleaner=cleaner,
            ),
            limiter=cleaner.limiter,
        )
    except attachments.BadVoice:
        upload.bad_voice = translate(
            request, attachments.E_BAD_VOICE, minutes=settings.voice_max_minutes
        )
        return
    upload.files.insert(0, prepared)


async def prepare_all(
    batch: blobstore.Batch,
    received: Received,
    *,
    key: bytes,
    keep_original: bool,
    scrub_max_bytes: int,
    cleaner: sandbox.Sandbox,
) -> list[attachments.Prepared]:
    """Finish every received file and clean it, one file at a time.

    Each file waits for one of the sandbox's own tokens in the event loop, then runs in a
    worker thread counted against that limiter, not the default one: files waiting to be
    cleaned hold none of the threads that every other request needs.
    """
    prepared = []
    for writer, name in received.files:
        prepared.append(
            await anyio.to_thread.run_sync(
                functools.partial(
                    attachments.prepare,
                    batch,
                    writer,
                    name=name,
                    key=key,
                    keep_original=keep_original,
                    scrub_max_bytes=scrub_max_bytes,
                    cleaner=cleaner,
                ),
                limiter=cleaner.limiter,
            )
        )
    return prepared


def _ascii_name(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^A-Za-z0-9._ -]", "_", folded).strip(" .")
    return safe[:150] or "file"


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the real name in RFC 5987 form."""
    return f"attachment; filename=\"{_ascii_name(name)}\"; filename*=UTF-8''{quote(name, safe='')}"


def play(found: attachments.Found, *, key: bytes, store: blobstore.Store) -> StreamingResponse:
    """A recording (Ogg/Opus we made ourselves, never a file as sent), decrypted chunk by chunk
    for the case page's <audio> player; not cached, not to be framed or sniffed."""
    chunks: Iterator[bytes] = store.read(
        found.blob_id, key=key, case_id=found.case_id, item_id=found.item_id
    )
    headers = {
        "content-disposition": "inline",
        "content-length": str(found.size),
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
    }
    return StreamingResponse(chunks, media_type="audio/ogg", headers=headers)


def download(found: attachments.Found, *, key: bytes, store: blobstore.Store) -> StreamingResponse:
    """The file, decrypted chunk by chunk as it is sent; never shown inline."""
    chunks: Iterator[bytes] = store.read(
        found.blob_id, key=key, case_id=found.case_id, item_id=found.item_id
    )
    headers: dict[str, Any] = {
        "content-disposition": content_disposition(found.name),
        "content-length": str(found.size),
        "x-content-type-options": "nosniff",
    }
    return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)
