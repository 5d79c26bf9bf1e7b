#!/usr/bin/env python3
"""Exit 0 when a MongoDB wire-protocol server (FerretDB) answers `hello` with ok: 1 (stdlib only).

Usage: mongo_ready.py HOST PORT [TIMEOUT_S]

Sends OP_MSG {hello: 1, $db: "admin"} with hand-encoded BSON and reads the reply's `ok` field.
"""

from __future__ import annotations

import socket
import struct
import sys

OP_MSG = 2013


def _cstring(s: str) -> bytes:
    return s.encode() + b"\x00"


def _hello_doc() -> bytes:
    elements = b"\x10" + _cstring("hello") + struct.pack("<i", 1)
    db = _cstring("admin")
    elements += b"\x02" + _cstring("$db") + struct.pack("<i", len(db)) + db
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


# Sizes of fixed-width BSON types; variable ones are handled in _ok_value.
_FIXED = {0x01: 8, 0x07: 12, 0x08: 1, 0x09: 8, 0x0A: 0, 0x10: 4, 0x11: 8, 0x12: 8, 0x13: 16}


def _ok_value(doc: bytes) -> float | None:
    """Value of the top-level `ok` field, or None if absent or not numeric."""
    pos, end = 4, struct.unpack("<i", doc[:4])[0] - 1
    while pos < end:
        kind = doc[pos]
        name_end = doc.index(b"\x00", pos + 1)
        name = doc[pos + 1 : name_end].decode()
        pos = name_end + 1
        if name == "ok":
            if kind == 0x01:
                return float(struct.unpack("<d", doc[pos : pos + 8])[0])
            if kind == 0x10:
                return float(struct.unpack("<i", doc[pos : pos + 4])[0])
            return None
        if kind in _FIXED:
            pos += _FIXED[kind]
        elif kind in (0x02, 0x0D, 0x0E):  # string, code, symbol
            pos += 4 + struct.unpack("<i", doc[pos : pos + 4])[0]
        elif kind in (0x03, 0x04):  # document, array
            pos += struct.unpack("<i", doc[pos : pos + 4])[0]
        elif kind == 0x05:  # binary
            pos += 5 + struct.unpack("<i", doc[pos : pos + 4])[0]
        else:
            return None
    return None


def _read(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def hello(host: str, port: int, timeout: float) -> float | None:
    body = struct.pack("<I", 0) + b"\x00" + _hello_doc()
    header = struct.pack("<iiii", 16 + len(body), 1, 0, OP_MSG)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(header + body)
        length, _, response_to, opcode = struct.unpack("<iiii", _read(sock, 16))
        reply = _read(sock, length - 16)
    if response_to != 1 or opcode != OP_MSG or reply[4] != 0:
        raise ValueError(f"unexpected reply: opcode {opcode}, responseTo {response_to}")
    return _ok_value(reply[5:])


def main() -> int:
    host, port = sys.argv[1], int(sys.argv[2])
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 5.0
    try:
        ok = hello(host, port, timeout)
    except (OSError, ValueError, IndexError, struct.error) as exc:
        sys.stderr.write(f"mongo not ready: {exc}\n")
        return 1
    if ok != 1.0:
        sys.stderr.write(f"mongo not ready: hello returned ok={ok}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
