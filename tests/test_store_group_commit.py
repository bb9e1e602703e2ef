"""Live turns are group-committed (simulator/store.py): queued by `save_turn`, written by
`flush` in one transaction, and never missed by a read. Real SQLite files under tmp_path."""

from __future__ import annotations

import asyncio
import socket
import sqlite3

import pytest

from simulator.live.outbox import Outbox, write
from simulator.store import Store

TURN = [("alice", "user", [{"type": "plain", "text": "hi"}], False),
        ("bot", "assistant", [{"type": "plain", "text": "hello"}], False)]


def other_connection_rows(store: Store, session_id: str) -> list[tuple]:
    """What another process would read: a new connection to the same file."""
    con = sqlite3.connect(store.path)
    try:
        return con.execute("SELECT role, content FROM messages WHERE session_id = ? "
                           "ORDER BY id", (session_id,)).fetchall()
    finally:
        con.close()


def test_outside_a_loop_a_turn_is_committed_at_once(tmp_path):
    store = Store(tmp_path)
    store.save_turn("s1", "alice", "2026-01-01T00:00:00+00:00", TURN)
    assert [r for r, _ in other_connection_rows(store, "s1")] == ["user", "assistant"]
    assert store.chat_session_creator("s1") == "alice"
    store.close()


def test_in_a_loop_a_turn_is_queued_and_every_read_sees_it(tmp_path):
    async def run():
        store = Store(tmp_path)
        store.save_turn("s1", "alice", "2026-01-01T00:00:01+00:00", TURN)
        store.save_turn("s2", "bob", "2026-01-01T00:00:02+00:00", TURN)
        queued = other_connection_rows(store, "s1")
        # the store's own reads commit the queue first
        assert [m["role"] for m in store.messages("s1")] == ["user", "assistant"]
        assert store.chat_session("s2")["updated_at"] == "2026-01-01T00:00:02+00:00"
        return store, queued

    store, queued = asyncio.run(run())
    assert queued == []  # it was queued, not written: the test can see the difference
    assert len(other_connection_rows(store, "s2")) == 2
    store.close()


def test_the_loop_commits_the_queue_without_any_read(tmp_path):
    async def run():
        store = Store(tmp_path)
        store.save_turn("s1", "alice", "2026-01-01T00:00:01+00:00", TURN)
        await asyncio.sleep(0)  # one loop iteration: the scheduled flush runs
        return store, other_connection_rows(store, "s1")

    store, rows = asyncio.run(run())
    assert [r for r, _ in rows] == ["user", "assistant"]
    store.close()


def test_ids_keep_the_order_of_the_writes(tmp_path):
    async def run():
        store = Store(tmp_path)
        store.save_turn("s1", "alice", "2026-01-01T00:00:01+00:00", TURN)
        later = store.save_message("s1", "alice", "user", [{"type": "plain", "text": "next"}],
                                   "2026-01-01T00:00:02+00:00")
        return store, later

    store, later = asyncio.run(run())
    ids = [m["id"] for m in store.messages("s1")]
    assert ids == sorted(ids) and ids[-1] == later and len(ids) == 3
    store.close()


def test_a_failed_flush_keeps_the_turns_queued(tmp_path):
    async def run():
        store = Store(tmp_path)
        store._conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.content LIKE '%boom%' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        boom = [("alice", "user", [{"type": "plain", "text": "boom"}], False)]
        store.save_turn("s1", "alice", "2026-01-01T00:00:01+00:00", boom)
        with pytest.raises(sqlite3.IntegrityError, match="refused by the test"):
            store.flush()
        assert other_connection_rows(store, "s1") == []  # rolled back, nothing half-written
        store._conn.execute("DROP TRIGGER refuse")
        store.flush()  # the retry writes the turn that stayed queued
        return store

    store = asyncio.run(run())
    assert [c for _, c in other_connection_rows(store, "s1")] == [
        '[{"type": "plain", "text": "boom"}]']
    store.close()


def test_close_commits_the_queue(tmp_path):
    async def run():
        store = Store(tmp_path)
        store.save_turn("s1", "alice", "2026-01-01T00:00:01+00:00", TURN)
        store.close()
        return store

    store = asyncio.run(run())
    assert len(other_connection_rows(store, "s1")) == 2


async def test_the_live_writer_flushes_before_each_socket_write():
    """`outbox.write` calls its `before_write` (the history's flush) before the bytes reach
    the socket: over a real socket pair, the peer has received nothing when it runs."""
    ours, peer = socket.socketpair()
    peer.setblocking(False)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    seen: list[bool] = []

    def before_write() -> None:
        try:
            peer.recv(1)
            seen.append(True)
        except BlockingIOError:
            seen.append(False)

    outbox = Outbox()
    task = asyncio.create_task(write(outbox, transport, before_write))
    try:
        outbox.put({"t": "end"})
        received = b""
        for _ in range(200):  # bounded: the frame is 13 bytes on a local socket pair
            await asyncio.sleep(0.01)
            try:
                received += peer.recv(64)
            except BlockingIOError:
                continue
            break
        assert seen == [False]
        assert received == b'\x81\x0b{"t":"end"}'
    finally:
        task.cancel()
        transport.close()
        peer.close()


def test_the_log_is_checkpointed_off_the_commits_and_closing_leaves_no_log(tmp_path):
    """A commit never checkpoints (the event loop's connection has no automatic checkpoint):
    the checkpoint thread copies the log into the database file within seconds, and `close`
    leaves the data in the file alone (the log gone)."""
    import time

    store = Store(tmp_path)
    assert store._conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    empty = store.path.stat().st_size
    for n in range(200):  # ~1 MiB: under SQLite's automatic checkpoint (1,000 pages) anyway
        store.set_setting(f"k{n}", "x" * 5000)
    deadline = time.monotonic() + 10
    while store.path.stat().st_size < empty + 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.path.stat().st_size >= empty + 1_000_000, "the log was never checkpointed"
    store.close()
    assert not store.path.with_name(store.path.name + "-wal").exists()
    con = sqlite3.connect(store.path)
    try:
        assert con.execute("SELECT COUNT(*) FROM settings WHERE key LIKE 'k%'").fetchone() == (200,)
    finally:
        con.close()
