"""The cluster DNS: CoreDNS (built by hack/build-go-binaries.sh with only the plugins below) as
a host process on the kubelet's ``clusterDNS`` address.

It serves the cluster zones as a real cluster's CoreDNS does, but with no ``forward``: a name
outside them gets NXDOMAIN at once (as from an upstream that does not know it), so no lookup
ever leaves the machine.
"""

from __future__ import annotations

from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

CLUSTER_DOMAIN = "cluster.local"
ZONES = (CLUSTER_DOMAIN, "in-addr.arpa", "ip6.arpa")
LOOKUP_ERRORS = (OSError, dns.exception.DNSException)
"""What ``lookup`` raises while the server is not up yet (for ``wait_for(tolerate=...)``)."""
HEALTH_ADDRESS = "127.0.0.1:18180"
READY_ADDRESS = "127.0.0.1:18181"


def corefile(
    *,
    listen: str,
    kubeconfig: Path,
    port: int = 53,
    health: str = HEALTH_ADDRESS,
    ready: str = READY_ADDRESS,
) -> str:
    """The Corefile: the Service and pod records of the ``kubernetes`` plugin, nothing else.

    The root block stands where a real cluster forwards: glibc tries a name with each search
    suffix and then as is, and only an NXDOMAIN there (not REFUSED) makes a typo "no such
    name" instead of "try again".
    """
    zones = " ".join(ZONES)
    return f"""\
{" ".join(f"{zone}:{port}" for zone in ZONES)} {{
    bind {listen}
    errors
    health {health}
    ready {ready}
    kubernetes {zones} {{
        kubeconfig {kubeconfig}
        pods insecure
        ttl 5
    }}
    cache 5
    loop
}}
.:{port} {{
    bind {listen}
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""


def command(binary: Path, corefile_path: Path) -> list[str]:
    return [str(binary), "-conf", str(corefile_path)]


def lookup(
    server: str, name: str, *, port: int = 53, timeout: float = 3.0
) -> tuple[str, list[str]]:
    """Ask ``server`` (UDP) for ``name``'s A records: (rcode name, addresses)."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    response = dns.query.udp(query, server, port=port, timeout=timeout)
    addresses = [
        item.address
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.A
        for item in rrset
    ]
    return dns.rcode.to_text(response.rcode()), addresses
