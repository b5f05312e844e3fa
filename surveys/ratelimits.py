"""Fixed-window rate limits for public POSTs, counted in the shared cache.

With the Redis cache, every counter of a request is bumped in one pipelined round trip
(INCR + EXPIRE per key); other caches use add/incr. Windows are aligned per key so that all
clients do not reset at the same second.
"""

import hashlib
import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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


def hit(limits: list[tuple[str, str, str]]) -> bool:
    """Count one hit on each (group, value, rate); True when any is over its limit."""
    now = time.time()
    keys = []
    for group, value, rate in limits:
        allowed, period = parse_rate(rate)
        keys.append((_key(group, value, period, now), allowed, period))
    cache = caches["default"]  # the backend itself, not the proxy, for the isinstance check
    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        pipe = client.pipeline(transaction=False)
        for key, _, period in keys:
            full = cache.make_and_validate_key(key)
            pipe.incr(full)
            pipe.expire(full, period + 1)
        counts = pipe.execute()[0::2]
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
