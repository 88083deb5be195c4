"""Finding 8: everything whistle writes to disk is for its own user alone, whatever the umask,
and a key file other users can read stops the service from starting."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import CHEAP_ARGON2
from whistle import audit, backup, blobs, cli, crypto, db
from whistle.app import bootstrap
from whistle.keys import PEPPER_FILE
from whistle.settings import Settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: new files 0644, directories 0755
    yield
    os.umask(old)


def _sqlite_settings(root: Path) -> Settings:
    return Settings(
        data_dir=root / "data",
        keys_dir=root / "keys",
        argon2_time_cost=CHEAP_ARGON2.time_cost,
        argon2_memory_kib=CHEAP_ARGON2.memory_kib,
        argon2_parallelism=CHEAP_ARGON2.parallelism,
    )


def _assert_private_tree(root: Path) -> None:
    assert _mode(root) == 0o700, root
    for path in root.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) == expected, (path, oct(_mode(path)))


def test_data_dir_database_journal_blobs_and_backups_are_private(
    tmp_path: Path, loose_umask: None
) -> None:
    settings = _sqlite_settings(tmp_path)
    engine, _keys = bootstrap(settings)
    try:
        with db.session_scope(engine) as s:  # a write: SQLite makes -wal and -shm
            audit.record(s, action="login")
        database = settings.data_dir / "whistle.db"
        assert Path(f"{database}-wal").exists()
        assert Path(f"{database}-shm").exists()
        batch = blobs.BlobBatch(settings.blob_dir)
        writer = batch.open(key=crypto.random_key(), case_id="c" * 32, item_id="i" * 32)
        writer.write(b"sealed as it streams")
        writer.finish()
        batch.commit_files([writer])
        batch.keep()
        _assert_private_tree(settings.data_dir)
        dest = tmp_path / "backup"
        backup.backup(settings=settings, dest=dest)
        _assert_private_tree(dest)
        restored = _sqlite_settings(tmp_path / "restored")
        backup.restore(settings=restored, src=dest)
        _assert_private_tree(restored.data_dir)
    finally:
        engine.dispose()


def test_an_existing_world_readable_database_is_tightened(
    tmp_path: Path, loose_umask: None
) -> None:
    settings = _sqlite_settings(tmp_path)
    settings.data_dir.mkdir()
    database = settings.data_dir / "whistle.db"
    database.touch(mode=0o644)
    database.chmod(0o644)
    Path(f"{database}-wal").touch()
    Path(f"{database}-wal").chmod(0o644)
    engine = db.make_engine(settings.effective_database_url)
    engine.dispose()
    assert _mode(database) == 0o600
    assert _mode(Path(f"{database}-wal")) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_a_key_file_others_can_read_refuses_to_start(
    tmp_path: Path,
    mode: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = _sqlite_settings(tmp_path)
    engine, _keys = bootstrap(settings)
    engine.dispose()
    (settings.keys_dir / PEPPER_FILE).chmod(mode)
    monkeypatch.setenv("WHISTLE_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("WHISTLE_KEYS_DIR", str(settings.keys_dir))
    monkeypatch.delenv("WHISTLE_DATABASE_URL", raising=False)
    assert cli.main(["serve"]) == 2  # stops before it listens
    err = capsys.readouterr().err
    assert f"mode {mode:04o}" in err
    assert "chmod 600" in err
    assert "Traceback" not in err
    assert cli.main(["audit-verify"]) == 2  # every command that loads the keys refuses
