"""Voice messages: every container a phone records is decoded, disguised and re-encoded to
Ogg/Opus in the cleaning worker, with nothing of its tags and nothing of it on disk; a bad
recording is refused with the rest of the report filed."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests import voices
from tests.helpers import World, csrf, login_reporter, login_staff
from tests.test_attachments import (
    BLOB_LINK,
    BOUNDARY,
    _part,
    _stored_blobs,
    _stream_post,
    system_tmp,  # noqa: F401 (a fixture)
)
from whistle import attachments, scrub, voice
from whistle.models import Attachment, AuditEntry, Case
from whistle.sandbox import Sandbox
from whistle.settings import Settings

CODE = re.compile(r"<strong>(\d{4} \d{4} \d{4} \d{4})</strong>")
# Long enough that a sealed blob's random bytes do not hold one by chance.
CONTAINER_MAGIC = (b"ftypM4A", b"ftyp3gp", b"\x1a\x45\xdf\xa3\x01", b"ID3\x04\x00", b"WAVEfmt ",
                   b"#!AMR", b"OpusHead")  # fmt: skip


def _semitones(f0: float) -> float:
    return 12 * math.log2(f0 / voices.F0_HZ)


@pytest.fixture(scope="module")
def cleaner() -> Sandbox:
    pool = Sandbox(concurrency=1, memory_bytes=768 * 1024 * 1024, seconds=30)
    yield pool
    pool.close()


def _clean(pool: Sandbox, data: bytes, kind: str, max_seconds: int = 900) -> bytes:
    out: list[bytes] = []
    result = pool.clean(
        [data], size=len(data), kind=kind, out=out.append, max_audio_seconds=max_seconds
    )
    assert result.kind == "opus"
    assert any(name.startswith("Tag ") for name in result.removed)
    return b"".join(out)


@pytest.mark.parametrize("container", sorted(voices.CONTAINERS))
def test_each_container_becomes_disguised_ogg_opus_without_its_tags(
    cleaner: Sandbox, container: str
) -> None:
    original = voices.recording(container)
    assert voices.MARKER.encode() in original  # the test file does carry the marker
    stored = _clean(cleaner, original, scrub.VOICE)
    samples, muxer, codec = voices.decode(stored)
    assert stored.startswith(b"OggS")
    assert muxer == "ogg"
    assert codec == "opus"
    assert voices.MARKER.encode() not in stored
    assert abs(samples.shape[0] / 16_000 - 3.0) < 0.1
    before = voices.median_f0(voices.decode(original)[0])
    assert abs(_semitones(before)) < 0.5  # the tracker finds the voice as made
    assert abs(_semitones(voices.median_f0(samples))) >= 3


@pytest.mark.parametrize("container", ["m4a", "webm"])
def test_own_voice_is_re_encoded_without_tags_but_not_shifted(
    cleaner: Sandbox, container: str
) -> None:
    stored = _clean(cleaner, voices.recording(container), scrub.OWN_VOICE)
    samples, muxer, codec = voices.decode(stored)
    assert (muxer, codec) == ("ogg", "opus")
    assert voices.MARKER.encode() not in stored
    assert abs(_semitones(voices.median_f0(samples))) < 0.5


def test_a_high_voice_is_lowered() -> None:
    high = voices.recording("wav", f0=220.0)
    result = voice.transcode(high, disguise=True, max_seconds=60)
    f0 = voices.median_f0(voices.decode(result.data)[0])
    assert 12 * math.log2(f0 / 220.0) <= -3


def test_a_recording_longer_than_allowed_is_refused_declared_or_decoded(
    cleaner: Sandbox,
) -> None:
    long = voices.recording("ogg", seconds=5.0)
    with pytest.raises(scrub.Unsupported):
        _clean(cleaner, long, scrub.VOICE, max_seconds=2)
    # A WAV whose header lies about its length: only decoding can tell.
    wav = bytearray(voices.recording("wav", seconds=5.0))
    wav[40:44] = (1000).to_bytes(4, "little")  # data chunk size: a few samples
    with pytest.raises(voice.BadAudio):
        voice.transcode(bytes(wav), disguise=False, max_seconds=2)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not audio at all" * 100,
        b"#EXTM3U\n#EXT-X-VERSION:3\nhttp://127.0.0.1:9/x.ts\n",  # a playlist is never opened
        b"ffconcat version 1.0\nfile /etc/passwd\n",
        voices.recording("m4a")[:400],  # cut short
        b"OggS" + bytes(2000),
    ],
)
def test_garbage_and_tricks_are_refused(cleaner: Sandbox, data: bytes) -> None:
    with pytest.raises(scrub.Unsupported):
        cleaner.clean([data], size=len(data), kind=scrub.VOICE, out=lambda _: None,
                      max_audio_seconds=60)  # fmt: skip


def test_a_picture_sent_as_voice_is_refused(cleaner: Sandbox) -> None:
    from tests.test_attachments import _photo_with_gps

    photo = _photo_with_gps()
    with pytest.raises(scrub.Unsupported):
        cleaner.clean([photo], size=len(photo), kind=scrub.VOICE, out=lambda _: None,
                      max_audio_seconds=60)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# through the web


def _voice_report(client: TestClient, world: World, data: bytes, name: str, **fields: str):
    form = {
        "csrf_token": csrf(client),
        "category": str(world.bribery),
        "mode": "anonymous",
        **fields,
    }
    return client.post("/report", data=form, files=[("voice", (name, data, "audio/mp4"))])


def test_a_spoken_report_alone_is_complete_and_the_reporter_is_told(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    receipt = _voice_report(reporter, world, voices.recording("m4a"), "Recording 14.32.m4a")
    assert receipt.status_code == 200, receipt.text
    assert "Röst förvrängd, metadata borttagen." in receipt.text
    assert "Recording 14.32" not in receipt.text  # the recorder's name (a time) is not kept
    anna = new_client()
    login_staff(anna, "anna")
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
        assert len(s.execute(select(Attachment)).all()) == 1
    page = anna.get(f"/cases/{case_id}").text
    [(url, _)] = BLOB_LINK.findall(page)
    stored = anna.get(url).content
    assert stored.startswith(b"OggS")
    assert voices.MARKER.encode() not in stored
    assert abs(_semitones(voices.median_f0(voices.decode(stored)[0]))) >= 3


def test_bad_audio_files_the_rest_and_keeps_nothing_of_it(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    reporter = new_client()
    receipt = _voice_report(
        reporter, world, b"\x00\x00\x00\x18ftypM4A " + bytes(5000), "memo.m4a",
        what="The written part",
    )  # fmt: skip
    assert receipt.status_code == 200, receipt.text
    assert "Röstmeddelandet kunde inte användas" in receipt.text
    with Session(engine) as s:
        assert s.execute(select(Case)).scalar_one() is not None
        assert s.execute(select(Attachment)).all() == []
    assert _stored_blobs(settings, engine) == []


def test_bad_audio_alone_brings_the_form_back(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    reporter = new_client()
    page = _voice_report(reporter, world, b"garbage" * 100, "memo.m4a", who="Typed name")
    assert page.status_code == 400
    assert "Röstmeddelandet kunde inte användas" in page.text
    assert "Typed name" in page.text
    with Session(engine) as s:
        assert s.execute(select(Case)).all() == []


def test_own_voice_is_labelled_and_re_encoded(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    reporter = new_client()
    receipt = _voice_report(reporter, world, voices.recording("webm"), "a.webm", keep_voice="yes")
    assert receipt.status_code == 200, receipt.text
    assert "Egen röst behållen som du bad om, metadata borttagen." in receipt.text


def test_a_voice_reply_is_added_to_the_case(
    world: World, new_client: Callable[[], TestClient]
) -> None:
    from tests.helpers import submit_report

    reporter = new_client()
    login_reporter(reporter, submit_report(reporter, world.bribery))
    sent = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": ""},
        files=[("voice", ("reply.ogg", voices.recording("ogg"), "audio/ogg"))],
    )
    assert sent.status_code == 303, sent.text
    page = reporter.get("/case").text
    assert attachments.VOICE_NAME in page
    assert "Röst förvrängd" in page
    bad = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": ""},
        files=[("voice", ("reply.ogg", b"nothing", "audio/ogg"))],
    )
    assert bad.status_code == 400
    assert "Röstmeddelandet kunde inte användas" in bad.text


def _holds(roots: tuple[Path, ...], needles: tuple[bytes, ...]) -> list[tuple[Path, bytes]]:
    found = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                found += [(path, n) for n in needles if n in content]
    return found


def test_no_plaintext_audio_reaches_the_disk_during_the_upload(
    world: World,
    new_client: Callable[[], TestClient],
    app: object,
    settings: Settings,
    engine: Engine,
    system_tmp: Path,  # noqa: F811
) -> None:
    reporter = new_client()
    original = voices.recording("m4a", seconds=20.0)
    needles = (voices.MARKER.encode(), *CONTAINER_MAGIC)
    roots = (settings.data_dir, system_tmp)
    checks = []
    token = csrf(reporter)  # the cookie is set before the streaming client copies the jar

    async def body() -> AsyncIterator[bytes]:
        yield (
            _part("csrf_token", token)
            + _part("category", str(world.bribery))
            + _part("mode", "anonymous")
        )
        yield (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="voice"; '
            f'filename="rec.m4a"\r\nContent-Type: audio/mp4\r\n\r\n'
        ).encode()
        for offset in range(0, len(original), 8192):
            yield original[offset : offset + 8192]
            assert _holds(roots, needles) == []
            checks.append(offset)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    response = anyio.run(_stream_post, app, reporter, "/report", body)
    assert response.status_code == 200, response.text
    assert len(checks) > 10
    assert re.search(r"\d{4} \d{4} \d{4} \d{4}", response.text)
    assert _holds(roots, needles) == []


def test_the_investigator_plays_the_recording_inline_and_every_play_is_audited(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    from tests.test_attachments import _photo_with_gps

    reporter = new_client()
    form = {"csrf_token": csrf(reporter), "category": str(world.bribery), "mode": "anonymous"}
    receipt = reporter.post(
        "/report",
        data=form,
        files=[
            ("voice", ("a.ogg", voices.recording("ogg"), "audio/ogg")),
            ("files", ("p.jpg", _photo_with_gps(), "image/jpeg")),
        ],
    )
    assert receipt.status_code == 200, receipt.text
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
    anna = new_client()
    login_staff(anna, "anna")
    page = anna.get(f"/cases/{case_id}").text
    players = re.findall(r'<audio controls preload="none" src="([^"]+)"', page)
    assert len(players) == 1
    assert players[0].endswith("/play")
    for _ in range(2):
        played = anna.get(players[0])
        assert played.status_code == 200
        assert played.headers["content-type"] == "audio/ogg"
        assert played.headers["content-disposition"] == "inline"
        assert played.headers["cache-control"] == "no-store"
        assert "media-src 'self'" in played.headers["content-security-policy"]
        assert played.content.startswith(b"OggS")
    with Session(engine) as s:
        plays = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "recording_played"))
            .scalars()
            .all()
        )
    assert [(p.actor_id, p.case_id) for p in plays] == [(world.anna, case_id)] * 2
    # Only recordings are served inline: the photo's blob through /play is refused.
    links = BLOB_LINK.findall(page)
    photo_url = next(url for url, _ in links if url + "/play" != players[0])
    assert anna.get(photo_url + "/play").status_code == 404
    # An investigator who does not hold the case plays nothing.
    carl = new_client()
    login_staff(carl, "carl")
    assert carl.get(players[0]).status_code == 404
    # The reporter has no player (and no audit of their listening: it could identify them).
    login_reporter(reporter, CODE.search(receipt.text).group(1))
    assert "<audio" not in reporter.get("/case").text


# ---------------------------------------------------------------------------------------------
# recordings of oral reports and meetings


def _post_recording(client: TestClient, case_id: str, data: bytes, **fields: str):
    return client.post(
        f"/cases/{case_id}/recording",
        data={"csrf_token": csrf(client), **fields},
        files=[("voice", ("meeting.m4a", data, "audio/mp4"))],
    )


def test_a_recording_without_consent_is_refused_and_nothing_is_kept(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    from tests.helpers import submit_report

    reporter = new_client()
    submit_report(reporter, world.bribery)
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
    anna = new_client()
    login_staff(anna, "anna")
    refused = _post_recording(anna, case_id, voices.recording("m4a"))
    assert refused.status_code == 400
    assert "Inspelningen sparades inte" in refused.text
    with Session(engine) as s:
        assert s.execute(select(Attachment)).all() == []
    assert _stored_blobs(settings, engine) == []


def test_a_recording_with_consent_is_one_item_with_who_and_when(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    from tests.helpers import submit_report
    from whistle.models import utcnow

    reporter = new_client()
    code = submit_report(reporter, world.bribery)
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
    anna = new_client()
    login_staff(anna, "anna")
    kept = _post_recording(anna, case_id, voices.recording("m4a"), consent="yes")
    assert kept.status_code == 303, kept.text
    assert kept.headers["location"] == f"/cases/{case_id}?done=recording#minutes"
    page = anna.get(f"/cases/{case_id}?tab=meetings").text
    assert "Inspelning av en muntlig rapport eller ett möte" in page
    assert "Sparad med rapportörens samtycke" in page
    with Session(engine) as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "recording_added")
        ).scalar_one()
        assert (entry.actor_id, entry.case_id) == (world.anna, case_id)
        del entry
    # The consent is in the recording's own item: who recorded it, and when.
    label = re.search(r'<p class="hint voice-done">([^<]*)</p>', page)
    assert label is not None
    assert "Anna" in label.group(1)
    assert utcnow().date().isoformat() in label.group(1)
    # The reporter does not get the recording.
    login_reporter(reporter, code)
    assert attachments.RECORDING_NAME not in reporter.get("/case").text
