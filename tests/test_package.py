"""Handover packages: identity masked, signed manifest verifies offline, any changed byte fails."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pypdf
import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import World, csrf, login_reporter, login_staff, post, submit_report
from whistle import cli, crypto, package
from whistle.keys import Keys
from whistle.models import AuditEntry, Case, CaseItem
from whistle.settings import Settings

NAME = "Rapportina Namnsdotter"
CONTACT = "070-1234567"
EVIDENCE = b"%PDF-1.4 evidence bytes \x00\x01\x02"


def _setup(world: World, new_client: Callable[[], TestClient], engine: Engine):
    reporter = new_client()
    code = submit_report(
        reporter,
        world.bribery,
        what=f"Chefen tog mutor. Jag, {NAME}, såg det; ring {CONTACT}.",
        mode="confidential",
        name=NAME,
        contact=CONTACT,
    )
    login_reporter(reporter, code)
    reply = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": "Här är kvittot."},
        files=[("files", ("kvitto.bin", EVIDENCE))],
    )
    assert reply.status_code == 303
    anna = new_client()
    login_staff(anna, "anna")
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
        rows = s.execute(select(CaseItem).where(CaseItem.case_id == case_id)).scalars()
        items = {i.kind: i.id for i in rows}
    return anna, case_id, items


def _download(anna: TestClient, case_id: str, ids: list[str], **extra: str):
    from urllib.parse import urlencode

    body = [("csrf_token", csrf(anna)), ("recipient", "Polisen Region Stockholm")]
    body += [("item", i) for i in ids] + list(extra.items())
    return anna.post(
        f"/cases/{case_id}/package",
        content=urlencode(body).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def _unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {i.filename: archive.read(i) for i in archive.infolist()}


def _public(keys: Keys) -> bytes:
    assert keys.signing is not None
    return crypto.signing_public_key(keys.signing)


def test_package_masks_identity_and_verifies_offline(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    keys: Keys,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    assert anna.get(f"/cases/{case_id}/package").status_code == 200
    ids = [items["report"], items["identity"], items["attachment"]]
    response = _download(anna, case_id, ids)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    files = _unzip(response.content)
    assert set(files) == {"manifest.json", "manifest.sig", "handover.pdf", "files/004-kvitto.bin"}
    assert files["files/004-kvitto.bin"] == EVIDENCE
    text = "\n".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(files["handover.pdf"])).pages
    )
    assert "Chefen tog mutor" in text
    assert "[maskerat, 32:3 b OSL]" in text
    assert NAME not in text
    assert "Rapportina" not in text
    assert CONTACT not in text
    assert package.verify(files, _public(keys)) == []
    # Offline, with the CLI, from the unpacked directory and from the zip.
    unpacked = tmp_path / "pkg"
    for name, data in files.items():
        (unpacked / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / name).write_bytes(data)
    (tmp_path / "pkg.zip").write_bytes(response.content)
    key_hex = _public(keys).hex()
    assert cli.main(["verify-package", str(unpacked), "--public-key", key_hex]) == 0
    assert cli.main(["verify-package", str(tmp_path / "pkg.zip"), "--public-key", key_hex]) == 0
    # The audit entry records the manifest's hash.
    with Session(engine) as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "handover_package_exported")
        ).scalar_one()
    assert entry.detail == f"manifest sha256 {crypto.sha256_hex(files['manifest.json'])}"
    # Changing one byte of any file makes verification fail.
    for name in files:
        for position in (0, len(files[name]) // 2, len(files[name]) - 1):
            forged = dict(files)
            data = bytearray(forged[name])
            data[position] ^= 0x01
            forged[name] = bytes(data)
            assert package.verify(forged, _public(keys)), (name, position)
        (unpacked / name).write_bytes(b"x" + files[name][1:])
        assert cli.main(["verify-package", str(unpacked), "--public-key", key_hex]) == 1
        (unpacked / name).write_bytes(files[name])
    # A file added beside the manifest, or another key, fails too.
    assert package.verify({**files, "extra.txt": b"x"}, _public(keys))
    assert package.verify(files, crypto.signing_keypair()[1])
    capsys.readouterr()


def test_identity_only_with_a_recorded_disclosing_handover(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    ids = [items["report"], items["identity"]]
    refused = _download(anna, case_id, ids, reveal="yes")
    assert refused.status_code == 400
    assert "Polisen Region Stockholm" in refused.text
    recorded = post(
        anna,
        f"/cases/{case_id}/handover",
        {
            "recipient": "Polisen",
            "legal_ground": "criminal_investigation",
            "handed": "Rapporten med identitet",
            "identity_disclosed": "yes",
            "notify_reporter": "yes",
            "notice_text": "Vi lämnar dina uppgifter till polisen.",
        },
    )
    assert recorded.status_code == 303
    shown = _download(anna, case_id, ids, reveal="yes")
    assert shown.status_code == 200
    pdf_bytes = _unzip(shown.content)["handover.pdf"]
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(pdf_bytes)).pages)
    assert NAME in text


def test_nothing_selected_and_non_reader(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    assert _download(anna, case_id, []).status_code == 400
    carl = new_client()
    login_staff(carl, "carl")
    assert carl.get(f"/cases/{case_id}/package").status_code == 404
    assert _download(carl, case_id, [items["report"]]).status_code == 404


def test_public_key_page_and_cli(
    client: TestClient, keys: Keys, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    page = client.get("/info/signing-key")
    assert page.status_code == 200
    assert _public(keys).hex() in page.text
    assert (settings.keys_dir / "signing.key").stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    env = {"WHISTLE_KEYS_DIR": str(settings.keys_dir), "WHISTLE_DATA_DIR": str(settings.data_dir)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert cli.main(["signing-key"]) == 0
    assert capsys.readouterr().out.strip() == _public(keys).hex()


def test_ed25519_known_answer_rfc8032_test_1() -> None:
    private = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert crypto.signing_public_key(private) == public
    assert crypto.sign(private, b"") == signature
    assert crypto.verify_signature(public, b"", signature)
    assert not crypto.verify_signature(public, b"x", signature)
    assert not crypto.verify_signature(public, b"", signature[:-1] + b"\x00")
    assert not crypto.verify_signature(b"short", b"", signature)
