"""A voice message in Chromium: the reporter, with JavaScript off, records (attaches) one on the
report form; the investigator's player on the case page can play it (reaches ``canplay``), and
the disguised recording is all the server keeps."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests import voices
from tests.e2e.flows import fill_report, marker, open_case_with, read_code, send_report, t
from tests.e2e.harness import DemoServer, OpenPage

pytestmark = pytest.mark.e2e

CAN_PLAY = """audio => new Promise(resolve => {
  if (audio.readyState >= 3) { resolve("canplay"); return; }
  audio.addEventListener("canplay", () => resolve("canplay"), {once: true});
  audio.addEventListener("error", () => resolve("error " + audio.error.code), {once: true});
  audio.load();
})"""


def test_voice_message_without_javascript_and_the_investigator_plays_it(
    open_page: OpenPage, demo: DemoServer
) -> None:
    lang = "sv"
    reporter = open_page(lang=lang, js=False)
    reporter.goto("/report")
    secret = marker()
    fill_report(reporter, lang, what=f"Se röstmeddelandet. {secret}")
    voice_input = reporter.get_by_label(t(lang, "Record or attach a voice message"))
    expect(voice_input).to_have_attribute("accept", "audio/*")
    expect(voice_input).to_have_attribute("capture", "")
    voice_input.set_input_files(
        {"name": "Inspelning 14.32.m4a", "mimeType": "audio/mp4",
         "buffer": voices.recording("m4a")}
    )  # fmt: skip
    send_report(reporter, lang)
    read_code(reporter, lang)
    expect(reporter.get_by_text(t(lang, "Voice disguised, metadata removed."))).to_be_visible()

    # Neither the marker in the recording's tags nor the recording itself is on the disk.
    for path in [demo.log, *demo.data_dir.rglob("*")]:
        if path.is_file():
            content = path.read_bytes()
            assert voices.MARKER.encode() not in content, path
            assert b"ftypM4A" not in content, path

    investigator = open_page(lang=lang, user="bertil")
    open_case_with(investigator, lang, secret)
    audio = investigator.locator("figure.recording audio")
    expect(audio).to_have_count(1)
    assert audio.evaluate(CAN_PLAY) == "canplay"
    expect(investigator.get_by_role("link", name=t(lang, "Download the recording"))).to_be_visible()
