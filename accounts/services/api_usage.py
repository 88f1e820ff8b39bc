"""API usage per organisation per day: the rate limiter's Redis counters (accounts.rate_limits)
flushed into ApiUsageDay by a beat task."""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.db.models import Case, F, Value, When

from accounts import rate_limits
from accounts.models import ApiUsageDay, BuyerOrganisation

# Moves each listed usage hash into its "flushing" twin (adding to what an interrupted flush
# left there) and out of the index: counting goes on into a fresh hash meanwhile.
# KEYS: index, flushing index, then (hash, flushing hash) per member; ARGV: the members.
_TAKE = """
for i = 1, #ARGV do
  local from, to = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local fields = redis.call('HGETALL', from)
  for j = 1, #fields, 2 do redis.call('HINCRBY', to, fields[j], fields[j + 1]) end
  redis.call('DEL', from)
  redis.call('SREM', KEYS[1], ARGV[i])
  redis.call('SADD', KEYS[2], ARGV[i])
end
return #ARGV
"""


def api_usage_flush() -> int:
    """Add the counted requests and 429s to ApiUsageDay; returns the (organisation, day) rows
    touched. Redis first hands the counts over to a "flushing" hash (atomically), the database
    adds them in one transaction, then the flushing hashes go: a crash between the commit and
    that last step would count those requests twice, never lose them. Without Redis (`make run`)
    there is nothing shared to flush."""
    redis = rate_limits.client()
    if redis is None:
        return 0
    members = sorted(
        m.decode() if isinstance(m, bytes) else m for m in redis.smembers(rate_limits.usage_index())
    )
    if members:
        keys = [rate_limits.usage_index(), rate_limits.usage_index(flushing=True)]
        for member in members:
            keys += [rate_limits.usage_key(member), rate_limits.usage_key(member, flushing=True)]
        redis.eval(_TAKE, len(keys), *keys, *members)
    pending = sorted(
        m.decode() if isinstance(m, bytes) else m
        for m in redis.smembers(rate_limits.usage_index(flushing=True))
    )
    if not pending:
        return 0
    pipe = redis.pipeline(transaction=False)
    for member in pending:
        pipe.hgetall(rate_limits.usage_key(member, flushing=True))
    counts: dict[tuple[int, date], tuple[int, int]] = {}
    for member, fields in zip(pending, pipe.execute(), strict=True):
        organisation_id, day = member.split(":", 1)
        fields = {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in fields.items()}
        counts[(int(organisation_id), date.fromisoformat(day))] = (
            fields.get("requests", 0),
            fields.get("throttled", 0),
        )
    _usage_add(counts)
    pipe = redis.pipeline(transaction=True)
    for member in pending:
        pipe.delete(rate_limits.usage_key(member, flushing=True))
    pipe.srem(rate_limits.usage_index(flushing=True), *pending)
    pipe.execute()
    return len(counts)


def _usage_add(counts: dict[tuple[int, date], tuple[int, int]]) -> None:
    """Set-based: insert the missing rows, then one UPDATE adding every row's counts."""
    with transaction.atomic(durable=True):
        known = set(
            BuyerOrganisation.objects.filter(pk__in={o for o, _d in counts}).values_list("pk", flat=True)
        )
        counts = {k: v for k, v in counts.items() if k[0] in known}  # an organisation since deleted
        if not counts:
            return
        ApiUsageDay.objects.bulk_create(
            [ApiUsageDay(organisation_id=o, day=d) for o, d in counts], ignore_conflicts=True
        )
        rows = ApiUsageDay.objects.filter(
            organisation_id__in={o for o, _d in counts}, day__in={d for _o, d in counts}
        ).values_list("pk", "organisation_id", "day")
        pks, requests, throttled = [], [], []
        for pk, organisation_id, day in rows:
            if (organisation_id, day) in counts:
                r, t = counts[(organisation_id, day)]
                pks.append(pk)
                requests.append(When(pk=pk, then=Value(r)))
                throttled.append(When(pk=pk, then=Value(t)))
        ApiUsageDay.objects.filter(pk__in=pks).update(
            requests=F("requests") + Case(*requests, default=Value(0)),
            throttled=F("throttled") + Case(*throttled, default=Value(0)),
        )
