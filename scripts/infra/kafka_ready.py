#!/usr/bin/env python3
"""Exit 0 when a Kafka broker answers a real Metadata request (stdlib only, no client library).

Usage: kafka_ready.py HOST PORT [TIMEOUT_S] [--brokers N] [--node-id ID]

Sends ApiVersions v0 to learn which Metadata versions the broker accepts, then a Metadata request
(non-flexible v4..v8, no topics) and requires at least N brokers in the answer (default 1) and,
with --node-id, that broker among them. An open port is not enough: a KRaft broker accepts
connections before it has caught up. The answer lists only live (unfenced) brokers: a cluster is
ready when it lists every node, and a node restarted after a crash once the controller has let it
back in (it lists itself), whether or not the others are up.
"""

from __future__ import annotations

import argparse
import socket
import struct
import sys

API_METADATA = 3
API_VERSIONS = 18
CLIENT_ID = b"switchboard-ready"


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    header = struct.pack(">hhih", api_key, version, corr, len(CLIENT_ID)) + CLIENT_ID
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", _read(sock, 4))[0]
    response = _read(sock, size)
    if struct.unpack(">i", response[:4])[0] != corr:
        raise ValueError("correlation id mismatch")
    return response[4:]


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def metadata_version(sock: socket.socket) -> int:
    body = _request(sock, API_VERSIONS, 0, 1, b"")
    error, count = struct.unpack(">hi", body[:6])
    if error != 0:
        raise ValueError(f"ApiVersions error {error}")
    for i in range(count):
        key, low, high = struct.unpack(">hhh", body[6 + 6 * i : 12 + 6 * i])
        if key == API_METADATA:
            version = int(max(low, 4))
            if version > min(high, 8):
                raise ValueError(f"no non-flexible Metadata version in {low}..{high}")
            return version
    raise ValueError("broker does not list Metadata")


def broker_ids(sock: socket.socket, version: int) -> set[int]:
    """Node ids of the live brokers in a Metadata answer."""
    # topics: empty array (not null, which means all topics); allow_auto_topic_creation: false.
    body = struct.pack(">i", 0) + b"\x00"
    if version >= 8:
        body += b"\x00\x00"  # include_cluster/topic_authorized_operations
    response = _request(sock, API_METADATA, version, 2, body)
    # throttle_time_ms (v3+), then the brokers: node_id, host, port, rack (nullable string).
    count = struct.unpack(">i", response[4:8])[0]
    ids, at = set(), 8
    for _ in range(count):
        node_id, host_len = struct.unpack(">ih", response[at : at + 6])
        at += 6 + host_len + 4
        (rack_len,) = struct.unpack(">h", response[at : at + 2])
        at += 2 + max(rack_len, 0)
        ids.add(int(node_id))
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("timeout", type=float, nargs="?", default=5.0)
    parser.add_argument("--brokers", type=int, default=1, help="live brokers required")
    parser.add_argument("--node-id", type=int, help="this broker must be among them")
    args = parser.parse_args()
    try:
        with socket.create_connection((args.host, args.port), timeout=args.timeout) as sock:
            sock.settimeout(args.timeout)
            brokers = broker_ids(sock, metadata_version(sock))
    except (OSError, ValueError, struct.error) as exc:
        sys.stderr.write(f"kafka not ready: {exc}\n")
        return 1
    if len(brokers) < args.brokers:
        sys.stderr.write(f"kafka not ready: {len(brokers)} of {args.brokers} brokers live\n")
        return 1
    if args.node_id is not None and args.node_id not in brokers:
        sys.stderr.write(f"kafka not ready: node {args.node_id} not live ({sorted(brokers)})\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
