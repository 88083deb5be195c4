"""Save PNGs of the main pages into docs/screenshots/ (run by `make screenshots`).

Starts the demo server in a temporary directory, files a report, lets the demo investigator
answer it, and photographs each page in Swedish and English, at desktop and phone size, with
Debian's Chromium. PNGs are reduced to a 256-colour palette so that each stays small.
"""

from __future__ import annotations

import io
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Page, StorageState, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.flows import (  # noqa: E402 - needs the repository on the path
    fill_report,
    login_reporter,
    login_staff,
    open_case_with,
    read_code,
    send_report,
    t,
)
from tests.e2e.harness import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    demo_server,
)

OUT = ROOT / "docs" / "screenshots"
MAX_BYTES = 200_000
REPORT = {
    "sv": "Inköpschefen har låtit en leverantör betala en resa. Fakturorna delades upp så att "
    "upphandlingsgränsen inte nåddes.",
    "en": "The head of procurement let a supplier pay for a trip. The invoices were split so "
    "that the procurement threshold was never reached.",
}
ANSWER = {
    "sv": "Tack. Har du kvar e-postmeddelandet från leverantören?",
    "en": "Thank you. Do you still have the supplier's e-mail?",
}


def save(page: Page, name: str) -> None:
    """Full page when it fits the size budget, else the first screenful."""
    for full_page in (True, False):
        image = Image.open(io.BytesIO(page.screenshot(full_page=full_page)))
        out = io.BytesIO()
        image.convert("RGB").quantize(colors=256).save(out, format="PNG", optimize=True)
        if out.tell() <= MAX_BYTES:
            (OUT / f"{name}.png").write_bytes(out.getvalue())
            print(f"{name}.png {out.tell() // 1024} KiB{'' if full_page else ' (screenful)'}")
            return
    raise SystemExit(f"{name}: even one screenful is over {MAX_BYTES} bytes")


def shoot_language(
    browser: Browser, url: str, lang: str, staff: Callable[[str], StorageState]
) -> None:
    def page_for(device: str, user: str = "") -> Page:
        options = {"storage_state": staff(user)} if user else {}
        context = browser.new_context(
            **options,  # type: ignore[arg-type]
            base_url=url,
            viewport=PHONE if device == "phone" else DESKTOP,
            device_scale_factor=1,
            is_mobile=device == "phone",
        )
        context.add_cookies([{"name": "whistle_lang", "value": lang, "url": url}])
        return context.new_page()

    for device in ("desktop", "phone"):
        prefix = f"{lang}-{device}"
        reporter = page_for(device)
        reporter.goto("/")
        save(reporter, f"{prefix}-landing")
        reporter.goto("/report")
        save(reporter, f"{prefix}-form")
        send_report(reporter, lang)
        save(reporter, f"{prefix}-form-errors")
        reporter.goto("/report")
        fill_report(reporter, lang, what=REPORT[lang])
        send_report(reporter, lang)
        code = read_code(reporter, lang)
        save(reporter, f"{prefix}-receipt")

        anna = page_for(device, "anna")
        open_case_with(anna, lang, REPORT[lang][:40])
        anna.get_by_role("button", name=t(lang, "Send confirmation")).click()
        anna.get_by_label(t(lang, "Message or question")).fill(ANSWER[lang])
        anna.get_by_role("button", name=t(lang, "Send to the reporter")).click()
        anna.goto("/inbox")
        save(anna, f"{prefix}-inbox")
        open_case_with(anna, lang, REPORT[lang][:40])
        save(anna, f"{prefix}-investigator-case")

        login_reporter(reporter, lang, code)
        save(reporter, f"{prefix}-case")
        reporter.context.close()

        login = page_for(device)
        login.goto("/staff/login")
        save(login, f"{prefix}-staff-login")
        login.context.close()

        admin = page_for(device, "admin")
        admin.goto("/admin")
        save(admin, f"{prefix}-admin")
        admin.context.close()
        anna.context.close()


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: install Debian's chromium package", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        demo_server(Path(tmp)) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        states: dict[str, StorageState] = {}

        def staff(username: str) -> StorageState:
            # Each login uses a TOTP step, accepted once: log each account in once.
            if username not in states:
                context = browser.new_context(base_url=server.url)
                login_staff(context.new_page(), "sv", username)
                states[username] = context.storage_state()
                context.close()
            return states[username]

        for lang in ("sv", "en"):
            shoot_language(browser, server.url, lang, staff)
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
