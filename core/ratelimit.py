"""A rate limiter shared by every process: fixed windows counted in Redis by one Lua script.

Each policy is a counter key, a quota and a window. A window starts at the first request that
finds no counter (the key is created with the window as its expiry, on Redis's clock), so every
web process and host sees the same count; `reset` is the counter's remaining time to live. One
script call checks every policy of a request and, only if all have quota left, takes one unit
from each, so a request refused by one policy uses nothing of the others; it also adds the
request (and, if refused, the refusal) to a usage hash in the same round trip. Without Redis
(`make run` on the local-memory cache) the same semantics run in process memory under a lock:
correct for one process, which is all `make run` has; production.py refuses to start without a
shared cache.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from django.core.cache import caches

# KEYS[1..n]: the policies' counters; KEYS[n+1]: the usage hash; KEYS[n+2]: the usage index set.
# ARGV[1]: n; ARGV[2..2n+1]: quota, window in ms, per policy; then the usage hash's ttl in
# seconds and its member name in the index.
_SCRIPT = """
local n = tonumber(ARGV[1])
local allowed = 1
local used = {}
for i = 1, n do
  used[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used[i] >= tonumber(ARGV[2 * i]) then allowed = 0 end
end
local out = {allowed}
for i = 1, n do
  local ttl
  if allowed == 1 then
    used[i] = redis.call('INCR', KEYS[i])
    ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[2 * i + 1])
      ttl = tonumber(ARGV[2 * i + 1])
    end
  else
    ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then ttl = tonumber(ARGV[2 * i + 1]) end
  end
  out[#out + 1] = used[i]
  out[#out + 1] = ttl
end
local usage = KEYS[n + 1]
redis.call('HINCRBY', usage, 'requests', 1)
if allowed == 0 then redis.call('HINCRBY', usage, 'throttled', 1) end
redis.call('EXPIRE', usage, ARGV[2 * n + 2])
redis.call('SADD', KEYS[n + 2], ARGV[2 * n + 3])
return out
"""


@dataclass(frozen=True)
class Policy:
    name: str  # what the RateLimit headers call it, e.g. "per-key"
    key: str  # the counter, e.g. "ratelimit:key:17"
    quota: int
    window: int  # seconds


@dataclass(frozen=True)
class PolicyState:
    policy: Policy
    remaining: int
    reset: int  # seconds until the window ends


@dataclass(frozen=True)
class Decision:
    allowed: bool
    states: tuple[PolicyState, ...]

    @property
    def retry_after(self) -> int:
        """Seconds until every exhausted policy has quota again (0 when allowed)."""
        return max((s.reset for s in self.states if s.remaining <= 0), default=0) if not self.allowed else 0


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" → (600, 60); the period is s, sec, m, min, h, hour, d or day (DRF's spelling)."""
    quota, _, period = rate.partition("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[:1]]
    return int(quota), seconds


def redis_client(alias: str):
    """The raw redis-py client of a cache alias, or None when the cache is not Redis.
    Django's own RedisCache and django-redis are both understood."""
    cache = caches[alias]
    if hasattr(cache, "client") and hasattr(cache.client, "get_client"):  # django-redis
        return cache.client.get_client(write=True)
    inner = getattr(cache, "_cache", None)  # django.core.cache.backends.redis.RedisCache
    if inner is not None and hasattr(inner, "get_client"):
        return inner.get_client(write=True)
    return None


_script = None  # redis-py Script: its SHA, loaded on first use by each server


def hit(
    client, policies: list[Policy], *, usage_key: str, usage_index: str, usage_member: str, usage_ttl: int
) -> Decision:
    """Count one request against `policies`, atomically, in one round trip to Redis."""
    global _script
    if _script is None:
        _script = client.register_script(_SCRIPT)
    args: list[object] = [len(policies)]
    for policy in policies:
        args += [policy.quota, policy.window * 1000]
    args += [usage_ttl, usage_member]
    keys = [p.key for p in policies] + [usage_key, usage_index]
    out = _script(keys=keys, args=args, client=client)
    states = tuple(
        PolicyState(p, max(0, p.quota - int(out[1 + 2 * i])), math.ceil(int(out[2 + 2 * i]) / 1000))
        for i, p in enumerate(policies)
    )
    return Decision(bool(out[0]), states)


class LocalLimiter:
    """The same fixed windows in this process's memory, for `make run` without Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, tuple[int, float]] = {}  # key → (used, window end)
        self.usage: dict[str, dict[str, int]] = {}  # usage key → {"requests": n, "throttled": m}

    def hit(self, policies: list[Policy], *, usage_key: str) -> Decision:
        now = time.monotonic()
        with self._lock:
            current = []
            for p in policies:
                used, ends = self._counters.get(p.key, (0, 0.0))
                if ends <= now:
                    used, ends = 0, now + p.window
                current.append((used, ends))
            allowed = all(used < p.quota for p, (used, _e) in zip(policies, current, strict=True))
            if allowed:
                current = [(used + 1, ends) for used, ends in current]
                for p, state in zip(policies, current, strict=True):
                    self._counters[p.key] = state
            usage = self.usage.setdefault(usage_key, {"requests": 0, "throttled": 0})
            usage["requests"] += 1
            usage["throttled"] += 0 if allowed else 1
        states = tuple(
            PolicyState(p, max(0, p.quota - used), math.ceil(ends - now))
            for p, (used, ends) in zip(policies, current, strict=True)
        )
        return Decision(allowed, states)


local_limiter = LocalLimiter()


def headers(decision: Decision) -> dict[str, str]:
    """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers-11), and Retry-After
    when refused."""
    policy = ", ".join(f'"{s.policy.name}";q={s.policy.quota};w={s.policy.window}' for s in decision.states)
    state = ", ".join(f'"{s.policy.name}";r={s.remaining};t={s.reset}' for s in decision.states)
    result = {"RateLimit-Policy": policy, "RateLimit": state}
    if not decision.allowed:
        result["Retry-After"] = str(max(1, decision.retry_after))
    return result
