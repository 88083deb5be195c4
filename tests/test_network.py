"""The employer-network warning: shown to reporters on the employer's network, computed in memory
from the peer address (and X-Forwarded-For only from a trusted proxy), never stored."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import ip_network

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.helpers import World, dump_tables
from whistle.app import create_app
from whistle.keys import Keys
from whistle.settings import Settings, SettingsError
from whistle.web.network import client_address, on_employer_network

WARNING_SV = "Det verkar som att du använder din arbetsgivares nätverk."
WARNING_EN = "on your employer"
EMPLOYER = "10.20.0.0/16, 2001:db8:aa::/48"
PROXY = "192.0.2.10/32"


@pytest.fixture
def browser(
    settings: Settings, engine: Engine, keys: Keys, world: World
) -> Iterator[type[TestClient]]:
    configured = settings.replace(
        employer_networks=Settings.from_env(
            {"WHISTLE_EMPLOYER_NETWORKS": EMPLOYER}
        ).employer_networks,
        trusted_proxies=(ip_network(PROXY),),
    )
    app = create_app(configured, engine=engine, keys=keys)
    opened: list[TestClient] = []

    def make(peer: str) -> TestClient:
        client = TestClient(
            app, base_url="https://testserver", follow_redirects=False, client=(peer, 40000)
        )
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


REPORTER_PAGES = ["/", "/report", "/followup", "/info/how", "/info/external"]


@pytest.mark.parametrize("peer", ["10.20.3.4", "2001:db8:aa::7", "::ffff:10.20.9.9"])
def test_warning_inside_employer_network(browser, peer: str) -> None:
    client = browser(peer)
    for url in REPORTER_PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
        assert WARNING_SV in response.text, url
        # At the top: before the page's own heading.
        assert response.text.index(WARNING_SV) < response.text.index("<h1")
    client.get("/lang/en?next=/")
    assert WARNING_EN in client.get("/").text


@pytest.mark.parametrize("peer", ["10.21.0.1", "198.51.100.7", "2001:db8:bb::1", "testclient"])
def test_no_warning_outside(browser, peer: str) -> None:
    client = browser(peer)
    for url in REPORTER_PAGES:
        assert WARNING_SV not in client.get(url).text, url


def test_staff_pages_never_warn(browser) -> None:
    # Investigators work from the office: the warning is for reporters only.
    client = browser("10.20.3.4")
    page = client.get("/staff/login")
    assert page.status_code == 200
    assert WARNING_SV not in page.text


def test_via_trusted_proxy_uses_forwarded_for(browser) -> None:
    client = browser("192.0.2.10")
    inside = client.get("/", headers={"X-Forwarded-For": "10.20.3.4"})
    assert WARNING_SV in inside.text
    outside = client.get("/", headers={"X-Forwarded-For": "198.51.100.7"})
    assert WARNING_SV not in outside.text
    # A client cannot hide by prepending a fake hop: the rightmost untrusted hop counts.
    spoofed = client.get("/", headers={"X-Forwarded-For": "198.51.100.7, 10.20.3.4"})
    assert WARNING_SV in spoofed.text
    # The proxy itself is not on the employer network: no header, no warning.
    assert WARNING_SV not in client.get("/").text


def test_untrusted_proxy_header_ignored(browser) -> None:
    # Anyone can send X-Forwarded-For: from an untrusted peer it changes nothing either way.
    outside = browser("198.51.100.7")
    assert WARNING_SV not in outside.get("/", headers={"X-Forwarded-For": "10.20.3.4"}).text
    inside = browser("10.20.3.4")
    assert WARNING_SV in inside.get("/", headers={"X-Forwarded-For": "198.51.100.7"}).text


def test_nothing_of_the_address_is_stored(browser, engine: Engine) -> None:
    client = browser("10.20.3.4")
    client.get("/")
    from tests.helpers import post

    post(client, "/followup", {"code": "0000 0000 0000 0000"})  # writes rate counters
    dump = dump_tables(engine)
    assert b"10.20.3.4" not in dump
    assert b"employer" not in dump.lower()


def test_without_configuration_nobody_is_warned(client: TestClient) -> None:
    assert WARNING_SV not in client.get("/").text


def test_client_address_rules() -> None:
    proxies = [ip_network("192.0.2.0/24")]
    assert str(
        client_address(peer="10.0.0.1", forwarded_for="1.2.3.4", trusted_proxies=proxies)
    ) == ("10.0.0.1")
    chain = "203.0.113.5, 198.51.100.1, 192.0.2.9"
    assert str(client_address(peer="192.0.2.1", forwarded_for=chain, trusted_proxies=proxies)) == (
        "198.51.100.1"
    )
    assert client_address(peer="192.0.2.1", forwarded_for="junk", trusted_proxies=proxies) is None
    assert client_address(peer="not-an-ip", forwarded_for=None, trusted_proxies=proxies) is None
    assert not on_employer_network(
        peer="10.0.0.1", forwarded_for=None, employer_networks=[], trusted_proxies=[]
    )


def test_settings_parse_and_refuse() -> None:
    parsed = Settings.from_env(
        {"WHISTLE_EMPLOYER_NETWORKS": "10.1.2.3/16,", "WHISTLE_TRUSTED_PROXIES": "::1/128"}
    )
    assert parsed.employer_networks == (ip_network("10.1.0.0/16"),)
    assert parsed.trusted_proxies == (ip_network("::1/128"),)
    for env in (
        {"WHISTLE_EMPLOYER_NETWORKS": "10.0.0.0/33"},
        {"WHISTLE_TRUSTED_PROXIES": "proxy.example"},
        {"WHISTLE_ONION_ADDRESS": "https://not-onion.example"},
    ):
        with pytest.raises(SettingsError):
            Settings.from_env(env)


def test_onion_location_on_reporter_pages_only(
    settings: Settings, engine: Engine, keys: Keys, world: World
) -> None:
    onion = Settings.from_env({"WHISTLE_ONION_ADDRESS": "http://xyzexample.onion/"})
    app = create_app(settings.replace(onion_address=onion.onion_address), engine=engine, keys=keys)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        for url in ("/", "/report", "/followup", "/info/how"):
            assert client.get(url).headers["onion-location"] == "http://xyzexample.onion" + url
        for url in ("/staff/login", "/inbox", "/healthz", "/static/whistle.css"):
            assert "onion-location" not in client.get(url).headers, url
    with TestClient(create_app(settings, engine=engine, keys=keys)) as plain:
        assert "onion-location" not in plain.get("/").headers
