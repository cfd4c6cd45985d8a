"""Runs (`server.runs`) claimed and tracked in Redis, for every worker at once.

Keys, beside the backend's streams (`<prefix><channel>`): a channel name starts with a letter or a
digit, so these never meet one.

- `<prefix>#run/<id>`   the run's state (`RunState` value); an outcome expires after keep_ms.
- `<prefix>#lease/<id>` the owner's lease while it runs (PX lease_ms, renewed every lease/3).
- `<prefix>#runs`       the set of live runs, which every worker sweeps for lapsed leases.

Each move is one Lua script, so two workers never both start, both end, or both interrupt a run.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..server.runs import LIVE, TRANSITIONS, RunState

if TYPE_CHECKING:
    from .redis import RedisBackend

__all__ = ["RedisRunStore"]

# KEYS: state, lease, live set. ARGV: owner, lease_ms, id. -> "" (claimed) or the state it has.
_CLAIM = """
local known = redis.call('GET', KEYS[1])
if known then return known end
redis.call('SET', KEYS[1], 'running')
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return ''
"""

# KEYS: the state keys then the lease keys (n each). ARGV: owner, lease_ms.
# -> the indexes (1-based) of runs asked to cancel.
_RENEW = """
local n = #KEYS / 2
local stop = {}
for i = 1, n do
  local state = redis.call('GET', KEYS[i])
  if state == 'running' or state == 'cancelling' then
    redis.call('SET', KEYS[n + i], ARGV[1], 'PX', ARGV[2])
    if state == 'cancelling' then stop[#stop + 1] = i end
  end
end
return stop
"""

# KEYS: state, lease, live set. ARGV: the new state, keep_ms, id, allowed-from states (space-joined).
# -> 1 moved, 0 refused (not in a state the move is allowed from).
_MOVE = """
local known = redis.call('GET', KEYS[1])
if not known or not string.find(' ' .. ARGV[4] .. ' ', ' ' .. known .. ' ', 1, true) then return 0 end
if ARGV[1] == 'cancelling' then
  redis.call('SET', KEYS[1], 'cancelling', 'KEEPTTL')
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[3], ARGV[3])
return 1
"""

# KEYS: live set. ARGV: state key prefix, lease key prefix, keep_ms.
# -> ids whose lease lapsed, now `interrupted` (each returned by one call only).
_ORPHANS = """
local lost = {}
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[2] .. id) == 0 then
    local state = redis.call('GET', ARGV[1] .. id)
    redis.call('SREM', KEYS[1], id)
    if state == 'running' or state == 'cancelling' then
      redis.call('SET', ARGV[1] .. id, 'interrupted', 'PX', ARGV[3])
      lost[#lost + 1] = id
    end
  end
end
return lost
"""

# KEYS: live set, state key, lease key. ARGV: id, keep_ms. -> 1 if the run's lease lapsed (now
# `interrupted`, returned to this caller only), else 0.
_ORPHANED = """
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 or redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
redis.call('SREM', KEYS[1], ARGV[1])
local state = redis.call('GET', KEYS[2])
if state == 'running' or state == 'cancelling' then
  redis.call('SET', KEYS[2], 'interrupted', 'PX', ARGV[2])
  return 1
end
return 0
"""


class RedisRunStore:
    """`RunStore` on the backend's Redis (its async client): one Lua script per move."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        base = backend.prefix
        self._state = base + "#run/"
        self._lease = base + "#lease/"
        self._live = base + "#runs"
        self._scripts: dict[str, Any] = {}

    def _script(self, name: str, text: str) -> Any:
        client = self.backend._commands()
        key = f"{name}:{id(client)}"
        script = self._scripts.get(key)
        if script is None:
            script = self._scripts[key] = client.register_script(text)
        return script

    async def claim(self, run_id: str, owner: str, lease_ms: int) -> RunState | None:
        known = await self._script("claim", _CLAIM)(
            keys=[self._state + run_id, self._lease + run_id, self._live], args=[owner, lease_ms, run_id])
        return RunState(known) if known else None

    async def renew(self, run_ids: list[str], owner: str, lease_ms: int) -> set[str]:
        keys = [self._state + r for r in run_ids] + [self._lease + r for r in run_ids]
        stop = await self._script("renew", _RENEW)(keys=keys, args=[owner, lease_ms])
        return {run_ids[int(i) - 1] for i in stop}

    async def move(self, run_id: str, to: RunState, keep_ms: int) -> bool:
        allowed = " ".join(s.value for s in LIVE if to in TRANSITIONS[s])
        moved = await self._script("move", _MOVE)(
            keys=[self._state + run_id, self._lease + run_id, self._live],
            args=[to.value, max(keep_ms, 1), run_id, allowed])
        return bool(moved)

    async def state(self, run_id: str) -> RunState | None:
        known = await self.backend._commands().get(self._state + run_id)
        return RunState(known) if known else None

    async def orphans(self, keep_ms: int) -> list[str]:
        lost = await self._script("orphans", _ORPHANS)(
            keys=[self._live], args=[self._state, self._lease, max(keep_ms, 1)])
        return [str(run_id) for run_id in lost]

    async def orphaned(self, run_id: str, keep_ms: int) -> bool:
        lost = await self._script("orphaned", _ORPHANED)(
            keys=[self._live, self._state + run_id, self._lease + run_id], args=[run_id, max(keep_ms, 1)])
        return bool(lost)
