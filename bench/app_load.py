"""The app's start-up time and its reply times under concurrent sessions.

    python bench/app_load.py [--sessions 20] [--turns 10] [--schemas 'schemas/**/*.yaml']

Starts `tod chat` on 127.0.0.1 and a free port, times until a first reply comes back through
gradio_client, then runs N concurrent sessions (one client each) and reports p50/p99 reply times.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from gradio_client import Client

OWN = "(agent's own)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(client: Client, text: str, agent: str = "pipeline") -> list:  # type: ignore[type-arg]
    return client.predict(text, agent, [], OWN, OWN, OWN, OWN, 1, False, 1.0, 1.0, api_name="/respond")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--schemas", default=None)
    args = parser.parse_args()
    port = free_port()
    log = os.path.join(tempfile.mkdtemp(), "log.sqlite")
    command = [sys.executable, "-m", "dialog.cli", "chat", "--port", str(port), "--log", log]
    if args.schemas:
        command += ["--schemas", args.schemas]
    start = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        while True:
            try:
                client = Client(url, verbose=False)
                say(client, "hello")
                break
            except Exception:
                if server.poll() is not None or time.perf_counter() - start > 120:
                    raise SystemExit("the app did not start") from None
                time.sleep(0.2)
        ready = time.perf_counter() - start
        print(f"from `tod chat` to a first reply: {ready:.1f} s")

        def session(i: int) -> list[float]:
            c = Client(url, verbose=False)
            times = []
            for t in range(args.turns):
                opening = ["I want to find a restaurant", "in Porto", "italian please"]
                text = opening[t] if t < len(opening) else "What is the phone number?"
                begin = time.perf_counter()
                say(c, text)
                times.append(time.perf_counter() - begin)
            return times

        with ThreadPoolExecutor(max_workers=args.sessions) as pool:
            begin = time.perf_counter()
            times = [t for ts in pool.map(session, range(args.sessions)) for t in ts]
            total = time.perf_counter() - begin
        print(
            f"{args.sessions} sessions x {args.turns} turns: {len(times)} replies in {total:.1f} s, "
            f"p50 {np.percentile(times, 50) * 1000:.0f} ms, p99 {np.percentile(times, 99) * 1000:.0f} ms"
        )
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
