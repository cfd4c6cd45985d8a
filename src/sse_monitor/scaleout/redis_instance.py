"""Which Redis the reader talks to, and whether a new one can be trusted with our history.

redis-py reconnects and retries by itself, so a Redis that was killed and restarted (or failed
over) while a worker was not looking may never raise anything in our code: the reader's next
`XREAD` just goes to the new instance, and since its stream ids are larger than our cursors
(they are time-based) the stream seems to go on, minus whatever the old instance acknowledged
and the new one does not have. Redis gives every process start a new `run_id` (INFO server), so:

- `InstanceWatch.hook` is the reader client's `redis_connect_func`: every connection the reader
  opens asks for the `run_id` before any command runs on it, and raises `InstanceChanged` when
  it is not the instance the reader's cursors were last verified against. The reader then
  verifies each followed channel (`RedisBackend._check_streams`) before it reads again.
- `describe` says whether an instance keeps every write it acknowledged across a crash: an
  append-only file fsynced at every write (`appendonly yes`, `appendfsync always`), loaded, and
  not a replica promoted during this run (a replica lags its master). Only then can a restart be
  proven lossless; anything else (RDB snapshots, `everysec`, failover, CONFIG disabled) cannot.

Imported only by `redis.py` once a `RedisBackend` exists (it needs the optional redis package).
"""
from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError, ResponseError

__all__ = ["InstanceChanged", "InstanceWatch", "describe"]

class InstanceChanged(RedisError):
    """A reader connection reached another Redis instance than the one its cursors were verified
    against (restart, failover). Raised before any command runs on that connection."""


class InstanceWatch:
    """The `run_id` the reader's cursors were verified against (`verified`), and the hook that
    refuses a connection to any other instance until `verifying` says the reader is checking it."""

    def __init__(self) -> None:
        self.verified: str | None = None     # run_id the cursors were last checked against
        self.durable = False                 # whether that instance keeps acknowledged writes
        self.changed = False                 # a connection met another instance: verify first
        self.verifying = False               # the reader is verifying: let its commands through

    async def hook(self, connection: Any) -> None:
        """`redis_connect_func` of the reader's connections: the usual handshake, then the
        instance check (so not even one `XREAD` runs on an unverified instance)."""
        await connection.on_connect()
        await connection.send_command("INFO", "server")
        run_id = _field(await connection.read_response(), "run_id")
        if self.verified is not None and run_id != self.verified and not self.verifying:
            self.changed = True
            raise InstanceChanged(f"Redis instance changed (run_id {self.verified[:8]}… -> "
                                  f"{run_id[:8]}…): verifying followed streams before reading on")


async def describe(client: Any) -> tuple[str, bool]:
    """(run_id, durable) of the instance `client` reaches: durable when it keeps every write it
    acknowledged across a crash (see the module docstring)."""
    info = await client.info("server")
    run_id = str(info.get("run_id", ""))
    try:
        persistence = await client.info("persistence")
        replication = await client.info("replication")
        fsync = (await client.config_get("appendfsync")).get("appendfsync")
    except ResponseError:                     # e.g. CONFIG disabled (managed Redis): cannot say
        return run_id, False
    durable = (int(persistence.get("aof_enabled", 0)) == 1 and int(persistence.get("loading", 1)) == 0
               and fsync == "always" and replication.get("role") == "master"
               # master_replid2 is all zeros (parsed as the number 0) unless it was promoted
               and str(replication.get("master_replid2", 0)).strip("0") == "")
    return run_id, durable


def _field(info: Any, name: str) -> str:
    """One `name:value` line of a raw INFO reply (str or bytes)."""
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return ""
