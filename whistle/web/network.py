"""The employer-network warning: is this reporter page being requested from the employer's network?

A reporter on a work computer or the employer's network can be traced by the employer's own logs
and proxies, whatever whistle does. When an administrator configures the employer's address
ranges (``WHISTLE_EMPLOYER_NETWORKS``), reporter pages say so at the top.

This is the **only** module of whistle that reads a client address (the ASGI ``client`` and, from
configured trusted reverse proxies only, ``X-Forwarded-For``). The address is compared in memory,
per request, and reduced to one boolean on ``request.state``; it is never stored, logged, put in
a template or passed to any other module, so there is nothing to subpoena and nothing to leak.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address
STATE_KEY = "employer_network"


def _parse(text: str) -> Address | None:
    try:
        address = ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) must match IPv4 ranges.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def client_address(
    *, peer: str | None, forwarded_for: str | None, trusted_proxies: Collection[Network]
) -> Address | None:
    """The requesting client's address, or None when it cannot be known.

    ``X-Forwarded-For`` is consulted only when the direct peer is a trusted proxy; then the list
    is walked from the right, skipping further trusted proxies, and the first other hop is the
    client. Anyone can write that header, so from an untrusted peer it is ignored entirely.
    """
    address = _parse(peer) if peer else None
    if address is None or not forwarded_for or not _within(address, trusted_proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        parsed = _parse(hop)
        if parsed is None:
            return None  # a malformed chain proves nothing about the client
        address = parsed
        if not _within(address, trusted_proxies):
            break
    return address


def on_employer_network(
    *,
    peer: str | None,
    forwarded_for: str | None,
    employer_networks: Collection[Network],
    trusted_proxies: Collection[Network],
) -> bool:
    if not employer_networks:
        return False
    address = client_address(
        peer=peer, forwarded_for=forwarded_for, trusted_proxies=trusted_proxies
    )
    return address is not None and _within(address, employer_networks)


class EmployerNetworkMiddleware:
    """Sets ``request.state.employer_network`` (a boolean) on reporter-facing paths."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        employer_networks: Collection[Network],
        trusted_proxies: Collection[Network],
        paths: Collection[str],
    ) -> None:
        self.app = app
        self.employer_networks = tuple(employer_networks)
        self.trusted_proxies = tuple(trusted_proxies)
        self.paths = frozenset(paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        flag = False
        if self.employer_networks and scope.get("path", "") in self.paths:
            client = scope.get("client")
            forwarded = None
            if self.trusted_proxies:
                values = [v for k, v in scope.get("headers", []) if k == b"x-forwarded-for"]
                # Several header lines form one list, in order.
                forwarded = ",".join(v.decode("latin-1") for v in values) or None
            flag = on_employer_network(
                peer=client[0] if client else None,
                forwarded_for=forwarded,
                employer_networks=self.employer_networks,
                trusted_proxies=self.trusted_proxies,
            )
        # A fresh state dict for this request only: the address itself never leaves this frame.
        scope = {**scope, "state": {**scope.get("state", {}), STATE_KEY: flag}}
        await self.app(scope, receive, send)
