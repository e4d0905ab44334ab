"""A small quote client, leaking three things the way real programs do.

It starts a local quote server, checks it once over a connection it then
forgets to close (a socket), starts a background refresher nobody stops (a
thread), and exports the prices to a temp file nobody deletes (a temp
file).  The server itself is shut down properly and is not reported.

    make demo
    leakwatch run --html demo-report.html examples/demo.py
"""

from __future__ import annotations

import csv
import random
import socket
import socketserver
import tempfile
import threading
import time

SYMBOLS = ("ACME", "GLOBEX", "INITECH")


class QuoteHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        request = self.rfile.readline().decode().strip()
        if request == "PING":
            self.wfile.write(b"PONG\n")
        else:
            self.wfile.write(f"{random.uniform(10, 200):.2f}\n".encode())


def start_server() -> tuple[socketserver.TCPServer, threading.Thread]:
    server = socketserver.TCPServer(("127.0.0.1", 0), QuoteHandler)
    thread = threading.Thread(target=server.serve_forever, name="quote-server")
    thread.start()
    return server, thread


class QuoteClient:
    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.prices: dict[str, float] = {}
        self._stop = threading.Event()
        self._health = socket.create_connection(address)  # leaks: checked once, never closed
        self._health.sendall(b"PING\n")
        self._health.recv(16)

    def fetch(self, symbol: str) -> float:
        with socket.create_connection(self.address, timeout=2) as sock:
            sock.sendall(f"{symbol}\n".encode())
            price = float(sock.makefile().readline())
        self.prices[symbol] = price
        return price

    def start_refresher(self) -> None:
        refresher = threading.Thread(target=self._refresh, name="quote-refresher", daemon=True)
        refresher.start()  # leaks: nothing ever sets self._stop

    def _refresh(self) -> None:
        while not self._stop.wait(0.3):
            for symbol in SYMBOLS:
                try:
                    self.fetch(symbol)
                except OSError:
                    pass  # the server went away: try again later


def export_csv(prices: dict[str, float]) -> str:
    # delete=False keeps the file once closed, and nothing removes it later.
    out = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)  # noqa: SIM115 # leaks
    with out:
        csv.writer(out).writerows([("symbol", "price"), *sorted(prices.items())])
    return out.name


def main() -> None:
    server, server_thread = start_server()
    client = QuoteClient(server.socket.getsockname())
    client.start_refresher()
    for _ in range(8):
        quotes = ", ".join(f"{s} {client.fetch(s):7.2f}" for s in SYMBOLS)
        print(quotes, flush=True)
        time.sleep(0.25)
    print("exported to", export_csv(client.prices))
    server.shutdown()
    server.server_close()
    server_thread.join()


if __name__ == "__main__":
    main()
