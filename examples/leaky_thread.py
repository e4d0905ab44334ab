"""Leaks a thread: a daemon poller that is started and never told to stop.

leakwatch run examples/leaky_thread.py
"""

from __future__ import annotations

import threading

wake = threading.Event()


def poll() -> None:
    while not wake.wait(0.5):  # nobody ever sets it
        pass


def start_poller() -> threading.Thread:
    poller = threading.Thread(target=poll, name="poller", daemon=True)
    poller.start()  # leaks: never stopped, never joined
    return poller


if __name__ == "__main__":
    start_poller()
    print("started the poller")
