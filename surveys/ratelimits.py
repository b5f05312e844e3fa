"""Fixed-window rate limits for public POSTs, counted in the shared cache.

With the Redis cache, every counter of a request is bumped in one round trip, by a small
server-side script (INCR, and EXPIRE on a new key); other caches use add/incr. Windows are
aligned per key so that all clients do not reset at the same second.
"""

import functools
import hashlib
import time
import weakref

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
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
_script = None
# One client per connection pool: Django's cache builds a new redis client (and its table of
# reply parsers) on every call, which costs more than the round trip itself.
_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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


def hit(limits: list[tuple[str, str, str]]) -> bool:
    """Count one hit on each (group, value, rate); True when any is over its limit."""
    now = time.time()
    keys = []
    for group, value, rate in limits:
        allowed, period = parse_rate(rate)
        keys.append((_key(group, value, period, now), allowed, period))
    cache = caches["default"]  # the backend itself, not the proxy, for the isinstance check
    if isinstance(cache, RedisCache):
        global _script
        pool = cache._cache._get_connection_pool(write=True)
        client = _clients.get(pool)
        if client is None:
            client = _clients[pool] = cache._cache._client(connection_pool=pool)
        if _script is None:
            _script = client.register_script(_INCR_SCRIPT)  # EVALSHA, loaded on first NOSCRIPT
        counts = _script(
            keys=[cache.make_key(key) for key, _, _ in keys],  # keys are [a-z0-9:-] only
            args=[period + 1 for _, _, period in keys],
            client=client,
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
