"""Search over 1,000 readable cases of 20 items each (issue 15): wall time and peak memory.

The database is seeded here (real crypto: each case key HPKE-wrapped to the searching
investigator, every item sealed as ``cases.add_item`` seals it), then each search runs in a
fresh process (``python -m bench.scenarios.search``) that logs in with the production Argon2
parameters, so its peak RSS is the search's own. The term is found nowhere: every item of every
case is opened, the worst case. With ``BENCH_BASELINE`` the same search runs on that checkout's
code too, in the same conditions (its figure goes in the note).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench import seed
from bench.harness import PRODUCTION, RUN_DIR, Result
from whistle import audit, cases, crypto, db
from whistle.keys import load_keys
from whistle.models import Case, CaseItem, CaseKeyWrap

CASES, ITEMS = 1_000, 20
SMALL = 300  # memory must not grow with the number of cases searched
TERM = "zqxjkvw"  # in no item
ROOT = Path(__file__).resolve().parent.parent.parent


def _seed(home: Path, count: int) -> seed.World:
    url = f"sqlite:///{home / 'data' / 'whistle.db'}"
    (home / "data").mkdir(parents=True)
    db.migrate(url)
    engine = db.make_engine(url)
    try:
        keys = load_keys(home / "keys", create=True)
        world = seed.make_world(audit.keyed(engine, keys), PRODUCTION.argon2, keys.password_key)
        public = seed._public_keys(engine, world)["anna"]
        anna = world.users["anna"]
        rng = random.Random(count)
        today = seed.deadlines.today()
        rows: dict[str, list[dict[str, Any]]] = {"cases": [], "wraps": [], "items": []}
        for _ in range(count):
            case = seed._case(world, rng, today)
            case.item_count = ITEMS
            key = crypto.random_key()
            rows["cases"].append(seed._row(case))
            rows["wraps"] += [seed._row(w) for w in seed._wraps(case.id, key, [(anna, public)])]
            for seq in range(1, ITEMS + 1):
                item = CaseItem(
                    case_id=case.id,
                    seq=seq,
                    kind="report" if seq == 1 else "message",
                    author="reporter",
                    created_at=cases.reporter_timestamp(),
                    sealed=b"",
                )
                content = (
                    seed._report_content("Leverantören fakturerar " * 20)
                    if seq == 1
                    else {"text": f"Meddelande {seq}: " + "å" * rng.randrange(100, 600)}
                )
                item.sealed = crypto.seal(
                    key,
                    json.dumps(content, ensure_ascii=False).encode(),
                    purpose=f"item:{item.kind}",
                    case_id=case.id,
                    item_id=item.id,
                )
                rows["items"].append(seed._row(item))
        with engine.begin() as conn:
            conn.execute(insert(Case), rows["cases"])
            conn.execute(insert(CaseKeyWrap), rows["wraps"])
            conn.execute(insert(CaseItem), rows["items"])
        return world
    finally:
        engine.dispose()


def _run(home: Path, world: seed.World, code: str = "") -> dict[str, Any]:
    """One search in a fresh process, on this checkout's code or on ``code``'s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env["PYTHONPATH"] = code or str(ROOT)
    argv = [sys.executable, str(Path(__file__).resolve()), str(home), world.users["anna"]]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def search_1000() -> list[Result]:
    runs: dict[int, tuple[Path, seed.World]] = {}
    for count in (SMALL, CASES):
        home = RUN_DIR / f"search-{count}"
        shutil.rmtree(home, ignore_errors=True)
        runs[count] = (home, _seed(home, count))
    big = _run(*runs[CASES])
    small = _run(*runs[SMALL])
    baseline = os.environ.get("BENCH_BASELINE", "")
    base = f"; baseline {baseline}: " if baseline else ""
    if baseline:
        other = _run(*runs[CASES], code=baseline)
        base += f"{other['wall']:.2f} s wall, {other['cpu']:.2f} s CPU, +{other['rss_mib']:.1f} MiB"
    return [
        Result(
            "search_1000",
            big["wall"],
            "s",
            "<=",
            1.5,
            note=f"{big['searched']} cases × {ITEMS} items opened, term found nowhere; "
            f"CPU {big['cpu']:.2f} s{base}",
        ),
        Result(
            "search_rss",
            big["rss_mib"] - small["rss_mib"],
            "MiB",
            "<=",
            8,
            note="peak RSS above the logged-in process (VmHWM reset): "
            f"+{big['rss_mib']:.1f} MiB for {CASES} cases "
            f"vs +{small['rss_mib']:.1f} MiB for {SMALL}",
        ),
    ]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def _child(home: Path, user_id: str) -> None:
    from sqlmodel import Session

    from whistle import accounts, search

    url = f"sqlite:///{home / 'data' / 'whistle.db'}"
    keys = load_keys(home / "keys", create=False)
    engine = audit.keyed(db.make_engine(url), keys)
    with Session(engine) as s:
        private = accounts.authenticate(
            s,
            username="anna",
            password=seed.PASSWORD,
            params=PRODUCTION.argon2,
            password_key=keys.password_key,
        ).private_key
    # The login's Argon2 (64 MiB) set the peak: reset it (Linux), so the peak is the search's.
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    wall, cpu = time.perf_counter(), time.process_time()
    with Session(engine) as s:
        found = search.search(s, user_id=user_id, private_key=private, term=TERM)
        s.rollback()  # the audit entry is not kept: the next run starts from the same database
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    grown = (_status_kib("VmHWM") - before) / 1024
    print(json.dumps({"wall": wall, "cpu": cpu, "rss_mib": grown, "searched": found.searched}))


if __name__ == "__main__":
    _child(Path(sys.argv[1]), sys.argv[2])  # run as a script: PYTHONPATH names the checkout
