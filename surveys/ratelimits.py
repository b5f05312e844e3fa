"""Fixed-window rate limits for public POSTs, counted in the shared cache.

With the Redis cache, every counter of a request is bumped in one round trip by a small
server-side script (INCR, and EXPIRE on a new key), run through this module's own redis-py
client of the cache's server (one per process; redis-py pools its connections and reconnects
after a fork). Keys are the cache's own (`cache.make_key`). Other caches use add/incr. Windows
are aligned per key so that all clients do not reset at the same second.
"""

import functools
import hashlib
import time

import redis
from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# KEYS: the counters; ARGV: their lifetimes in seconds. Returns the counts.
_INCR_SCRIPT = """
local counts = {}
for i, key in ipairs(KEYS) do
  counts[i] = redis.call("INCR", key)
  if counts[i] == 1 then redis.call("EXPIRE", key, ARGV[i]) end
end
return counts
"""
_REDIS_BACKEND = "django.core.cache.backends.redis.RedisCache"


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """ "120/m" -> (120, 60); "5/10s" -> (5, 10)."""
    count, _, per = rate.partition("/")
    multiplier = per[:-1] or "1"
    return int(count), int(multiplier) * UNITS[per[-1]]


def client_ip(request: HttpRequest) -> str:
    meta_key = getattr(settings, "RATELIMIT_IP_META_KEY", None) or "REMOTE_ADDR"
    value = request.META.get(meta_key, "") or request.META.get("REMOTE_ADDR", "")
    # In X-Forwarded-For only the last address, added by our own proxy, cannot be forged.
    return value.split(",")[-1].strip()


def _key(group: str, value: str, period: int, now: float) -> str:
    digest = hashlib.blake2b(f"{group}:{value}".encode(), digest_size=12).hexdigest()
    offset = int(digest[:6], 16) % period
    window = int((now + offset) // period)
    return f"rl:{group}:{digest}:{window}"


@functools.lru_cache(maxsize=4)
def _counter_script(location: str):
    """The counting script on the server at `location` (the cache's first, its primary)."""
    client = redis.Redis.from_url(location)
    return client.register_script(_INCR_SCRIPT)  # EVALSHA, loaded again on NOSCRIPT


def _redis_location() -> str | None:
    config = settings.CACHES["default"]
    if config["BACKEND"] != _REDIS_BACKEND:
        return None
    location = config["LOCATION"]
    if isinstance(location, str):
        location = location.split(",")
    return location[0]


def hit(limits: list[tuple[str, str, str]]) -> bool:
    """Count one hit on each (group, value, rate); True when any is over its limit."""
    now = time.time()
    keys = []
    for group, value, rate in limits:
        allowed, period = parse_rate(rate)
        keys.append((_key(group, value, period, now), allowed, period))
    cache = caches["default"]
    location = _redis_location()
    if location is not None:
        counts = _counter_script(location)(
            keys=[cache.make_key(key) for key, _, _ in keys],  # keys are [a-z0-9:-] only
            args=[period + 1 for _, _, period in keys],
        )
    else:
        counts = []
        for key, _, period in keys:
            if cache.add(key, 1, period + 1):
                counts.append(1)
            else:
                try:
                    counts.append(cache.incr(key))
                except ValueError:  # expired between add and incr
                    cache.set(key, 1, period + 1)
                    counts.append(1)
    return any(count > allowed for count, (_, allowed, _) in zip(counts, keys, strict=True))
