"""The app's start-up time and its reply times under concurrent sessions, with isolation checks.

    python bench/app_load.py [--sessions 50] [--turns 20] [--agent form] [--json OUT]

Starts `tod chat` on 127.0.0.1 and a free port, times until a first reply comes back through
gradio_client, then runs N concurrent sessions (one client each, each looking for its own cuisine in
its own city) and reports p50/p99 reply times, errors (a call that raised or returned no reply) and
leaks (a state shown to a session that holds another session's city or cuisine).
"""

from __future__ import annotations

import argparse
import json
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


CITIES = ["Lisbon", "Porto", "Madrid", "Barcelona"]
CUISINES = ["italian", "chinese", "indian", "seafood", "vegetarian"]


def say(client: Client, text: str, agent: str = "pipeline", services: list[str] | None = None) -> list:  # type: ignore[type-arg]
    return client.predict(
        text, agent, services or [], OWN, OWN, OWN, OWN, 1, False, 1.0, 1.0, api_name="/respond"
    )


def state_of(result: list) -> dict[tuple[str, str], str]:  # type: ignore[type-arg]
    return {(row[0], row[1]): row[2] for row in result[3]["data"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--schemas", default=None)
    parser.add_argument("--agent", default="pipeline")
    parser.add_argument("--json", default=None)
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

        def session(i: int) -> tuple[list[float], int, int]:
            c = Client(url, verbose=False)
            city, cuisine = CITIES[i % len(CITIES)], CUISINES[i % len(CUISINES)]
            opening = [f"I want to find a {cuisine} restaurant", f"in {city}"]
            times, errors, leaks = [], 0, 0
            for t in range(args.turns):
                text = opening[t] if t < len(opening) else "What is the phone number?"
                begin = time.perf_counter()
                try:
                    result = say(c, text, args.agent, ["RestaurantBooking"])
                except Exception:
                    errors += 1
                    continue
                times.append(time.perf_counter() - begin)
                state = state_of(result)
                if not result[0] or len(result[0]) != 2 * (t + 1 - errors):
                    errors += 1
                mine = {("RestaurantBooking", "cuisine"): cuisine}
                if t >= 1:
                    mine[("RestaurantBooking", "city")] = city
                leaks += any(state.get(k) not in (None, v) for k, v in mine.items())
            return times, errors, leaks

        with ThreadPoolExecutor(max_workers=args.sessions) as pool:
            begin = time.perf_counter()
            results = list(pool.map(session, range(args.sessions)))
            total = time.perf_counter() - begin
        times = [t for ts, _, _ in results for t in ts]
        errors = sum(e for _, e, _ in results)
        leaks = sum(leak for _, _, leak in results)
        figures = {
            "agent": args.agent,
            "sessions": args.sessions,
            "turns": args.turns,
            "replies": len(times),
            "seconds": round(total, 1),
            "start_to_first_reply_s": round(ready, 1),
            "reply_ms_p50": round(float(np.percentile(times, 50)) * 1000),
            "reply_ms_p99": round(float(np.percentile(times, 99)) * 1000),
            "errors": errors,
            "leaks": leaks,
        }
        print(
            f"{args.sessions} sessions x {args.turns} turns: {len(times)} replies in {total:.1f} s, "
            f"p50 {figures['reply_ms_p50']} ms, p99 {figures['reply_ms_p99']} ms, "
            f"{errors} errors, {leaks} leaks"
        )
        if args.json:
            with open(args.json, "w") as f:
                json.dump(figures, f, indent=1)
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
