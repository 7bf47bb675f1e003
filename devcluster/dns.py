"""A minimal cluster DNS for the local cluster: Service names to ClusterIPs, nothing else.

Pods get ``nameserver 198.19.255.1`` (the kubelet's clusterDNS) and the usual search list, so
``kubernetes.default.svc`` (which kopf and other in-cluster clients dial by name) and
``<service>.<namespace>.svc.cluster.local`` resolve to the Service's ClusterIP, read from the
API server. Every other name gets NXDOMAIN at once: there is no recursion and no upstream, so
no lookup ever leaves the machine. UDP only (answers are far below 512 bytes); A records, and an
empty answer for other types of a known name.

    python -m devcluster.dns --listen 198.19.255.1 --server https://198.19.255.1:6443 \\
        --ca ca.crt --cert admin.crt --key admin.key

Only the standard library: it runs under whatever Python started the cluster.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import socket
import ssl
import struct
import sys
import time
import urllib.error
import urllib.request

CLUSTER_DOMAIN = "cluster.local"
TTL = 5  # seconds; also how long an API answer is cached

_A = 1
_IN = 1
_NOERROR, _SERVFAIL, _NXDOMAIN, _NOTIMP = 0, 2, 3, 4


class _Resolver:
    def __init__(self, server: str, ca: str, cert: str, key: str) -> None:
        context = ssl.create_default_context(cafile=ca)
        context.load_cert_chain(cert, key)
        self._server = server
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}

    def service_ip(self, name: str, namespace: str) -> str | None:
        """The Service's IPv4 ClusterIP; None if there is no such Service (or it is headless).

        Raises OSError when the API server cannot be asked.
        """
        key = (namespace, name)
        cached = self._cache.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        url = f"{self._server}/api/v1/namespaces/{namespace}/services/{name}"
        try:
            with self._opener.open(url, timeout=3) as response:
                spec = json.load(response).get("spec", {})
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise
            spec = {}
        ip: str | None = spec.get("clusterIP")
        if not ip or ip == "None" or ipaddress.ip_address(ip).version != 4:
            ip = None
        self._cache[key] = (time.monotonic() + TTL, ip)
        return ip


def _question(packet: bytes) -> tuple[str, int, int, int]:
    """(name, type, class, offset after the question) of a query's first question."""
    labels = []
    offset = 12
    while True:
        length = packet[offset]
        if length == 0:
            offset += 1
            break
        if length & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii").lower())
        offset += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[offset : offset + 4])
    return ".".join(labels), qtype, qclass, offset + 4


def _service_of(name: str) -> tuple[str, str] | None:
    """``(service, namespace)`` for ``<service>.<namespace>.svc.cluster.local``."""
    labels = name.split(".")
    suffix = ["svc", *CLUSTER_DOMAIN.split(".")]
    if len(labels) == 2 + len(suffix) and labels[2:] == suffix:
        return labels[0], labels[1]
    return None


def answer(packet: bytes, resolver: _Resolver) -> bytes | None:
    """The response to one query packet (None for garbage, which gets no answer)."""
    if len(packet) < 12:
        return None
    ident, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or qdcount != 1:  # a response, or not exactly one question
        return None
    rd = flags & 0x0100
    header_flags = 0x8000 | 0x0400 | rd  # QR, AA, copy RD; RA stays 0: no recursion
    try:
        name, qtype, qclass, end = _question(packet)
    except (IndexError, ValueError, UnicodeDecodeError, struct.error):
        return struct.pack("!HHHHHH", ident, header_flags | 1, 0, 0, 0, 0)  # FORMERR
    question = packet[12:end]
    opcode = (flags >> 11) & 0xF
    records = b""
    rcode = _NXDOMAIN
    if opcode != 0:
        rcode = _NOTIMP
    elif (service := _service_of(name)) is not None:
        try:
            ip = resolver.service_ip(*service)
        except (OSError, ValueError):
            rcode = _SERVFAIL
        else:
            if ip is not None:
                rcode = _NOERROR
                if qtype == _A and qclass == _IN:
                    records = struct.pack("!HHHIH", 0xC00C, _A, _IN, TTL, 4) + socket.inet_aton(ip)
    header = struct.pack("!HHHHHH", ident, header_flags | rcode, 1, 1 if records else 0, 0, 0)
    return header + question + records


def query(server: str, name: str, *, port: int = 53, timeout: float = 3.0) -> tuple[int, list[str]]:
    """Ask ``server`` for ``name``'s A records: (rcode, addresses). For tests and ``status``."""
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    packet = struct.pack("!HHHHHH", 0x4B44, 0x0100, 1, 0, 0, 0) + labels + b"\0"
    packet += struct.pack("!HH", _A, _IN)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, port))
        reply, _ = sock.recvfrom(4096)
    _ident, flags, _qd, ancount = struct.unpack("!HHHH", reply[:8])
    offset = 12 + len(labels) + 1 + 4
    addresses = []
    for _ in range(ancount):
        rtype, _rclass, _ttl, length = struct.unpack("!HHIH", reply[offset + 2 : offset + 12])
        data = reply[offset + 12 : offset + 12 + length]
        if rtype == _A and length == 4:
            addresses.append(socket.inet_ntoa(data))
        offset += 12 + length
    return flags & 0xF, addresses


def serve(listen: str, resolver: _Resolver, port: int = 53) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((listen, port))
        print(f"kubedag-dns: serving {CLUSTER_DOMAIN} Services on {listen}:{port}", flush=True)
        while True:
            packet, client = sock.recvfrom(4096)
            try:
                reply = answer(packet, resolver)
            except Exception as error:  # one bad query must not stop the server
                print(f"kubedag-dns: {client[0]}: {type(error).__name__}: {error}", flush=True)
                continue
            if reply is not None:
                sock.sendto(reply, client)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devcluster.dns", description=__doc__)
    parser.add_argument("--listen", required=True, help="IPv4 address to serve on (UDP)")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--server", required=True, help="API server URL")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    serve(args.listen, _Resolver(args.server, args.ca, args.cert, args.key), args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
