"""Start a new migration: `make migration NAME=what_it_does`.

The file is `NNNN_what_it_does.py` with revision id NNNN, one after the current head, so the
files list in chain order. Alembic's autogenerate fills in what differs between the models and
a scratch SQLite database migrated to head; read and finish it by hand (PostgreSQL too), then
tests/test_migrations.py checks that models and migrations agree on both databases.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from whistle import db


def main(name: str) -> int:
    if not re.fullmatch(r"[a-z][a-z0-9_]{2,40}", name):
        print(
            "NAME: lower-case letters, digits and _ (e.g. NAME=voice_recordings)", file=sys.stderr
        )
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{Path(scratch) / 'head.db'}"
        db.migrate(url)
        config = db.alembic_config(url)
        config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
        heads = ScriptDirectory.from_config(config).get_heads()
        if len(heads) != 1:
            print(f"the history has {len(heads)} heads; re-chain it into one line first")
            return 1
        number = len(list(db.MIGRATIONS_DIR.glob("versions/[0-9][0-9][0-9][0-9]_*.py"))) + 1
        script = command.revision(config, message=name, autogenerate=True, rev_id=f"{number:04d}")
    print(f"wrote {script.path if script and not isinstance(script, list) else script}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else ""))
