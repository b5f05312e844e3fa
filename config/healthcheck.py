"""Container healthchecks (docker-compose.yml): `python -m config.healthcheck web|beat`.

- web: GET /healthz on this container with a Host header the app allows (the first entry of
  ALLOWED_HOSTS), so Django's host check does not answer 400; healthy only on 200.
- beat: the heartbeat file beat touches at every wake-up is younger than BEAT_HEARTBEAT_MAX_AGE
  seconds (default 120: four times CELERY_BEAT_MAX_LOOP_INTERVAL).

Reads only the environment, never the settings: it must be quick and start no database.
"""

from __future__ import annotations

import http.client
import os
import sys
import time
from pathlib import Path

DEFAULT_HOST = "localhost"


def allowed_host(allowed_hosts: str) -> str:
    """A Host header that ALLOWED_HOSTS (comma-separated, as in the environment) accepts."""
    for entry in (part.strip() for part in allowed_hosts.split(",")):
        if not entry or entry == "*":
            continue
        # ".example.com" allows example.com and its subdomains.
        return entry.lstrip(".")
    return DEFAULT_HOST


def check_web(*, port: int, allowed_hosts: str, timeout: float = 5.0) -> tuple[bool, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/healthz", headers={"Host": allowed_host(allowed_hosts)})
        response = connection.getresponse()
        body = response.read(2000).decode(errors="replace")
    except OSError as exc:
        return False, f"no answer on port {port}: {exc}"
    finally:
        connection.close()
    return response.status == 200, f"HTTP {response.status} {body}"


def check_beat(*, heartbeat: Path, max_age: float) -> tuple[bool, str]:
    try:
        age = time.time() - heartbeat.stat().st_mtime
    except OSError:
        return False, f"no heartbeat file at {heartbeat}"
    return age <= max_age, f"last heartbeat {age:.0f} s ago (limit {max_age:.0f} s)"


def main(argv: list[str]) -> int:
    what = argv[1] if len(argv) > 1 else ""
    if what == "web":
        healthy, detail = check_web(
            port=int(os.environ.get("PORT", "8000")),
            allowed_hosts=os.environ.get("ALLOWED_HOSTS", DEFAULT_HOST),
        )
    elif what == "beat":
        var_dir = Path(os.environ.get("VAR_DIR", Path(__file__).resolve().parent.parent / "var"))
        healthy, detail = check_beat(
            heartbeat=Path(os.environ.get("BEAT_HEARTBEAT_FILE", var_dir / "beat-heartbeat")),
            max_age=float(os.environ.get("BEAT_HEARTBEAT_MAX_AGE", "120")),
        )
    else:
        print("usage: python -m config.healthcheck web|beat", file=sys.stderr)
        return 2
    print(detail)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
