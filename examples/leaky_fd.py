"""Leaks a socket: a client connection to a loopback server, kept in a pool, never closed.

leakwatch run examples/leaky_fd.py
"""

from __future__ import annotations

import socket

POOL: list[socket.socket] = []


def connect(addr: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(addr)  # leaks: pooled and never closed
    POOL.append(sock)
    return sock


def main() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        client = connect(server.getsockname())
        conn, _ = server.accept()
        with conn:
            client.sendall(b"ping")
            print("server got", conn.recv(4))


if __name__ == "__main__":
    main()
