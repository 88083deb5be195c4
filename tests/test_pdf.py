"""PDF exports: Swedish text survives a round trip; no identifying metadata; no files written."""

from __future__ import annotations

import builtins
import datetime as dt
import io
import os
from pathlib import Path

import pypdf
import pytest

from whistle import pdf

DOC = pdf.Document(
    title="Utlämnande av allmän handling",
    facts=[("Diarienummer", "KS 2026/17"), ("Beslutsdatum", "2026-12-01")],
    sections=[
        pdf.Section(
            "Rapport",
            "Åsa Öberg på ekonomi\ntog emot [maskerat, 32:3 b OSL].\x00\x1b",
            [("Beslut", "Lämnas ut")],
        )
    ],
    dated=dt.date(2026, 12, 1),
    footer="Beslutet kan överklagas hos kammarrätten.",
)


def text_of(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_swedish_text_reads_back() -> None:
    text = text_of(pdf.render(DOC))
    for expected in (
        "Utlämnande av allmän handling",
        "KS 2026/17",
        "Åsa Öberg på ekonomi",
        "[maskerat, 32:3 b OSL]",
        "överklagas",
    ):
        assert expected in text


def test_no_identifying_metadata_and_the_same_bytes_each_time() -> None:
    data = pdf.render(DOC)
    assert data == pdf.render(DOC)
    meta = pypdf.PdfReader(io.BytesIO(data)).metadata
    assert meta is not None
    assert set(meta) <= {"/Title", "/CreationDate"}
    assert meta["/CreationDate"] == "D:20261201000000Z"
    assert b"/ID" not in data
    assert b"/Author" not in data
    assert b"/Producer" not in data


def test_long_text_runs_over_pages() -> None:
    long = pdf.Document("T", [], [pdf.Section("H", "rad\n" * 400)], dated=dt.date(2026, 1, 1))
    assert len(pypdf.PdfReader(io.BytesIO(pdf.render(long))).pages) > 3


def test_writes_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[str] = []
    real_open = os.open

    def spy(path: str, flags: int, *args: int) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            opened.append(str(path))
        return real_open(path, flags, *args)

    real_builtin_open = builtins.open

    def spy_builtin(file: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        if any(m in mode for m in "wax+"):
            opened.append(str(file))
        return real_builtin_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    monkeypatch.setattr(builtins, "open", spy_builtin)
    monkeypatch.chdir(tmp_path)
    pdf.render(DOC)
    assert opened == []
    assert list(tmp_path.iterdir()) == []
