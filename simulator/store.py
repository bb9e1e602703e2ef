"""The embedded SQLite store in the data directory.

Small and synchronous: every statement is a single-row lookup or write on a local file, far
cheaper than a thread hop. The API-key table is mirrored in memory so that authenticating a
request costs one SHA-256 and one dict lookup, never a query.

Live turns are group-committed: `save_turn` queues the turn and `flush` writes every queued
turn in one transaction. It runs before anything else touches the database (any statement
through `_db`), before the Live API writer sends the next frames to a client (so a turn is
committed before its `end`, or anything after it, leaves the process) and, failing both,
at the event loop's next iteration. What a client was told is stored; a read sees it.

Checkpoints (copying the write-ahead log into the database file, with its fsync) run on a
thread of their own, once a second, never in a commit on the event loop: SQLite's automatic
checkpoint stalled the loop 10-20 ms a few times per thousand live turns (every turn in
flight waited behind it). Committed data is durable either way (WAL, `synchronous=NORMAL`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

CHECKPOINT_EVERY_S = 1.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS chat_sessions (
    session_id TEXT PRIMARY KEY,
    platform_id TEXT NOT NULL,
    creator TEXT NOT NULL,
    display_name TEXT,
    is_group INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    interrupted INTEGER NOT NULL DEFAULT 0,
    llm_checkpoint_id TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, id);
CREATE TABLE IF NOT EXISTS attachments (
    attachment_id TEXT PRIMARY KEY,
    filename TEXT NOT NULL,
    stored_name TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_used_at TEXT,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS revoked_tokens (digest TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
"""

PROJECT_MEMBER_KIND = "chat project session"  # resource: session_id -> its ChatUI project
SESSION_COLUMNS = ("session_id", "platform_id", "creator", "display_name", "is_group",
                   "created_at", "updated_at")
ATTACHMENT_COLUMNS = ("attachment_id", "filename", "stored_name", "mime_type", "kind", "size",
                      "created_at")

KEY_COLUMNS = (
    "key_id", "name", "key_hash", "key_prefix", "scopes", "created_by", "created_at",
    "updated_at", "last_used_at", "expires_at", "revoked_at",
)


@dataclass
class ApiKeyRecord:
    key_id: str
    name: str
    key_hash: str
    key_prefix: str
    scopes: list[str]
    created_by: str
    created_at: str
    updated_at: str
    last_used_at: str | None = None
    expires_at: str | None = None
    revoked_at: str | None = None
    _last_persisted_use: float = field(default=0.0, repr=False)


class Store:
    DB_NAME = "simulator.db"

    def __init__(self, data_dir: Path):
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / self.DB_NAME
        self._pending: list[tuple] = []  # queued live turns, see flush
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread does it
        self._db.executescript(SCHEMA)
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._checkpointer = threading.Thread(target=self._checkpoints, daemon=True,
                                              name=f"checkpoint {self.path}")
        self._checkpointer.start()
        self.keys_by_hash: dict[str, ApiKeyRecord] = {}
        for row in self._db.execute(f"SELECT {', '.join(KEY_COLUMNS)} FROM api_keys"):
            rec = ApiKeyRecord(**dict(zip(KEY_COLUMNS, row, strict=True)))
            rec.scopes = json.loads(rec.scopes)
            self.keys_by_hash[rec.key_hash] = rec
        self._db.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (int(time.time()),))
        self.revoked: dict[str, int] = dict(self._db.execute(
            "SELECT digest, expires_at FROM revoked_tokens"))

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, with every queued live turn committed first."""
        if self._pending:
            self.flush()
        return self._conn

    def close(self) -> None:
        self.flush()
        self._closed.set()
        self._checkpointer.join(timeout=10)
        self._conn.close()  # the last connection: SQLite checkpoints the rest, removes the log

    def _checkpoints(self) -> None:
        """The write-ahead log copied into the database file once a second, on this thread's
        own connection (sqlite3 releases the GIL while it works). PASSIVE: it never waits for
        the event loop's connection, nor makes it wait; what it cannot copy now, it copies
        next time."""
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            while not self._closed.wait(CHECKPOINT_EVERY_S):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error:  # busy or gone: the next round tries again
                    continue
        finally:
            conn.close()

    def _write(self, sql: str, params: tuple = ()) -> None:
        with self._lock:
            self._db.execute(sql, params)

    # settings -------------------------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_setting(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", (key, value))

    def jwt_secret(self) -> str:
        secret = self.setting("jwt_secret")
        if secret is None:
            secret = secrets.token_urlsafe(32)
            self.set_setting("jwt_secret", secret)
        return secret

    # users ----------------------------------------------------------------------------------
    def user_count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM users").fetchone()[0]

    def password_hash(self, username: str) -> str | None:
        row = self._db.execute(
            "SELECT password_hash FROM users WHERE username = ?", (username,)
        ).fetchone()
        return row[0] if row else None

    def add_user(self, username: str, password_hash: str, created_at: str) -> None:
        self._write(
            "INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)",
            (username, password_hash, created_at),
        )

    def update_user(self, username: str, new_username: str, password_hash: str) -> None:
        self._write("UPDATE users SET username = ?, password_hash = ? WHERE username = ?",
                    (new_username, password_hash, username))

    # resources (bots, providers, ...: one JSON document per id) ------------------------------
    def list_resources(self, kind: str) -> list[dict]:
        rows = self._db.execute(
            "SELECT body FROM resources WHERE kind = ? ORDER BY created_at, id", (kind,))
        return [json.loads(body) for (body,) in rows]

    def get_resource(self, kind: str, rid: str) -> dict | None:
        row = self._db.execute("SELECT body FROM resources WHERE kind = ? AND id = ?",
                               (kind, rid)).fetchone()
        return json.loads(row[0]) if row else None

    def put_resource(self, kind: str, rid: str, body: dict, created_at: str) -> None:
        """Insert or replace; a replaced document keeps its place in listings."""
        self._write(
            "INSERT INTO resources (kind, id, body, created_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
            (kind, rid, json.dumps(body, ensure_ascii=False), created_at))

    def delete_resource(self, kind: str, rid: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM resources WHERE kind = ? AND id = ?",
                                    (kind, rid)).rowcount > 0

    # chat sessions and messages ------------------------------------------------------------
    def chat_session_creator(self, session_id: str) -> str | None:
        row = self._db.execute("SELECT creator FROM chat_sessions WHERE session_id = ?",
                               (session_id,)).fetchone()
        return row[0] if row else None

    def add_chat_session(self, session_id: str, creator: str, created_at: str,
                         platform_id: str = "webchat") -> None:
        self._write(
            "INSERT OR IGNORE INTO chat_sessions (session_id, platform_id, creator, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?)",
            (session_id, platform_id, creator, created_at, created_at))

    def save_message(self, session_id: str, sender: str, role: str, content: list,
                     created_at: str, checkpoint: str | None = None,
                     interrupted: bool = False) -> int:
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO messages (session_id, sender, role, content, interrupted, "
                "llm_checkpoint_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, sender, role, json.dumps(content, ensure_ascii=False),
                 int(interrupted), checkpoint, created_at))
            self._db.execute("UPDATE chat_sessions SET updated_at = ? WHERE session_id = ?",
                             (created_at, session_id))
            return cur.lastrowid

    def open_chat(self, session_id: str, creator: str, created_at: str, content: list,
                  checkpoint: str) -> int:
        """A chat request's session (when new) and its user message, in one transaction: a
        request that fails on the way leaves neither behind. Returns the message id."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO chat_sessions (session_id, platform_id, creator, "
                    "created_at, updated_at) VALUES (?, 'webchat', ?, ?, ?)",
                    (session_id, creator, created_at, created_at))
                cur = self._db.execute(
                    "INSERT INTO messages (session_id, sender, role, content, interrupted, "
                    "llm_checkpoint_id, created_at) VALUES (?, ?, 'user', ?, 0, ?, ?)",
                    (session_id, creator, json.dumps(content, ensure_ascii=False),
                     checkpoint, created_at))
                self._db.execute("UPDATE chat_sessions SET updated_at = ? WHERE session_id = ?",
                                 (created_at, session_id))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return cur.lastrowid

    def save_turn(self, session_id: str, creator: str, created_at: str,
                  messages: list[tuple]) -> None:
        """Queue a live turn's session (when new) and messages `(sender, role, content,
        interrupted)`; `flush` commits them (module docstring). Outside an event loop the
        turn is committed at once."""
        with self._lock:
            first = not self._pending
            self._pending.append((session_id, creator, created_at, [
                (session_id, sender, role, json.dumps(content, ensure_ascii=False),
                 int(interrupted), str(uuid.uuid4()), created_at)
                for sender, role, content, interrupted in messages]))
        if first:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                self.flush()

    def flush(self) -> None:
        """Every queued live turn in one transaction. On failure the turns stay queued (the
        next flush retries them) and the error is raised."""
        with self._lock:
            if not self._pending:
                return
            turns, db = self._pending, self._conn
            db.execute("BEGIN")
            try:
                db.executemany(
                    "INSERT OR IGNORE INTO chat_sessions (session_id, platform_id, creator, "
                    "created_at, updated_at) VALUES (?, 'webchat', ?, ?, ?)",
                    [(sid, creator, stamp, stamp) for sid, creator, stamp, _ in turns])
                db.executemany(
                    "INSERT INTO messages (session_id, sender, role, content, interrupted, "
                    "llm_checkpoint_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [row for *_, rows in turns for row in rows])
                db.executemany("UPDATE chat_sessions SET updated_at = ? WHERE session_id = ?",
                               [(stamp, sid) for sid, _, stamp, _ in turns])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._pending = []

    def list_chat_sessions(self, creator: str, page: int, page_size: int,
                           platform_id: str | None = None) -> tuple[list[dict], int]:
        page = min(page, 2**62 // max(1, page_size))  # SQLite OFFSET is a 64-bit integer
        # research SESS-003: sessions attached to a ChatUI project are not listed
        where, args = ("creator = ? AND session_id NOT IN (SELECT id FROM resources WHERE "
                       "kind = ?)"), [creator, PROJECT_MEMBER_KIND]
        if platform_id:
            where, args = where + " AND platform_id = ?", [*args, platform_id]
        total = self._db.execute(f"SELECT COUNT(*) FROM chat_sessions WHERE {where}",
                                 args).fetchone()[0]
        rows = self._db.execute(
            "SELECT session_id, platform_id, creator, display_name, is_group, created_at, "
            f"updated_at FROM chat_sessions WHERE {where} ORDER BY updated_at DESC, session_id "
            "LIMIT ? OFFSET ?", [*args, page_size, (page - 1) * page_size])
        keys = ("session_id", "platform_id", "creator", "display_name", "is_group",
                "created_at", "updated_at")
        return [dict(zip(keys, row, strict=True)) for row in rows], total

    def add_attachment(self, row: dict) -> None:
        cols = ("attachment_id", "filename", "stored_name", "mime_type", "kind", "size",
                "created_at")
        self._write(f"INSERT INTO attachments ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})", tuple(row[c] for c in cols))

    def attachment(self, attachment_id: str) -> dict | None:
        cols = ("attachment_id", "filename", "stored_name", "mime_type", "kind", "size",
                "created_at")
        row = self._db.execute(f"SELECT {', '.join(cols)} FROM attachments "
                               "WHERE attachment_id = ?", (attachment_id,)).fetchone()
        return dict(zip(cols, row, strict=True)) if row else None

    def messages(self, session_id: str) -> list[dict]:
        rows = self._db.execute(
            "SELECT id, sender, role, content, interrupted, llm_checkpoint_id, created_at "
            "FROM messages WHERE session_id = ? ORDER BY id", (session_id,))
        return [{"id": r[0], "sender": r[1], "role": r[2], "content": json.loads(r[3]),
                 "interrupted": bool(r[4]), "llm_checkpoint_id": r[5], "created_at": r[6]}
                for r in rows]

    def chat_session(self, session_id: str) -> dict | None:
        row = self._db.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM chat_sessions "
                               "WHERE session_id = ?", (session_id,)).fetchone()
        return dict(zip(SESSION_COLUMNS, row, strict=True)) if row else None

    def all_chat_sessions(self) -> list[dict]:
        """Every chat session of every user, oldest first."""
        rows = self._db.execute(f"SELECT {', '.join(SESSION_COLUMNS)} FROM chat_sessions "
                                "ORDER BY created_at, session_id")
        return [dict(zip(SESSION_COLUMNS, row, strict=True)) for row in rows]

    def update_chat_session(self, session_id: str, updated_at: str,
                            display_name: str | None = None) -> None:
        """Touch a session, renaming it when display_name is given."""
        if display_name is None:
            self._write("UPDATE chat_sessions SET updated_at = ? WHERE session_id = ?",
                        (updated_at, session_id))
        else:
            self._write("UPDATE chat_sessions SET display_name = ?, updated_at = ? "
                        "WHERE session_id = ?", (display_name, updated_at, session_id))

    def delete_chat_session(self, session_id: str) -> None:
        """The session row and all its messages, in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("DELETE FROM messages WHERE session_id = ?", (session_id,))
                self._db.execute("DELETE FROM chat_sessions WHERE session_id = ?",
                                 (session_id,))
            except Exception:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def message(self, message_id: int) -> dict | None:
        row = self._db.execute(
            "SELECT id, session_id, sender, role, content, interrupted, llm_checkpoint_id, "
            "created_at FROM messages WHERE id = ?", (message_id,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "session_id": row[1], "sender": row[2], "role": row[3],
                "content": json.loads(row[4]), "interrupted": bool(row[5]),
                "llm_checkpoint_id": row[6], "created_at": row[7]}

    def update_message(self, message_id: int, content: list | None = None,
                       checkpoint: str | None = None) -> None:
        if content is not None:
            self._write("UPDATE messages SET content = ? WHERE id = ?",
                        (json.dumps(content, ensure_ascii=False), message_id))
        if checkpoint is not None:
            self._write("UPDATE messages SET llm_checkpoint_id = ? WHERE id = ?",
                        (checkpoint, message_id))

    def delete_messages(self, session_id: str, ids: list[int] | None = None,
                        after: int | None = None) -> list[int]:
        """Delete a session's messages: those in `ids`, or those after message `after`, or
        (neither given) all of them. Returns the deleted ids."""
        where, args = "session_id = ?", [session_id]
        if ids is not None:
            where += f" AND id IN ({', '.join('?' * len(ids))})"
            args += list(ids)
        if after is not None:
            where, args = where + " AND id > ?", [*args, after]
        with self._lock:
            found = [r[0] for r in self._db.execute(f"SELECT id FROM messages WHERE {where}",
                                                    args)]
            self._db.execute(f"DELETE FROM messages WHERE {where}", args)
        return found

    def attachment_by_stored_name(self, stored_name: str) -> dict | None:
        row = self._db.execute(f"SELECT {', '.join(ATTACHMENT_COLUMNS)} FROM attachments "
                               "WHERE stored_name = ?", (stored_name,)).fetchone()
        return dict(zip(ATTACHMENT_COLUMNS, row, strict=True)) if row else None

    def delete_attachment(self, attachment_id: str) -> bool:
        with self._lock:
            return self._db.execute("DELETE FROM attachments WHERE attachment_id = ?",
                                    (attachment_id,)).rowcount > 0

    # logged-out JWTs (SHA-256 of the token -> its exp), mirrored in memory --------------------
    def token_revoked(self, digest: str) -> bool:
        return digest in self.revoked

    def revoke_token(self, digest: str, expires_at: int) -> None:
        now = int(time.time())
        with self._lock:
            self._db.execute("DELETE FROM revoked_tokens WHERE expires_at < ?", (now,))
            self._db.execute("INSERT OR REPLACE INTO revoked_tokens (digest, expires_at) "
                             "VALUES (?, ?)", (digest, expires_at))
            self.revoked = {d: e for d, e in self.revoked.items() if e >= now}
            self.revoked[digest] = expires_at

    # api keys -------------------------------------------------------------------------------
    def add_key(self, rec: ApiKeyRecord) -> None:
        values = tuple(
            json.dumps(rec.scopes) if col == "scopes" else getattr(rec, col) for col in KEY_COLUMNS
        )
        self._write(
            f"INSERT INTO api_keys ({', '.join(KEY_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(KEY_COLUMNS))})",
            values,
        )
        self.keys_by_hash[rec.key_hash] = rec

    def key_by_id(self, key_id: str) -> ApiKeyRecord | None:
        return next((k for k in self.keys_by_hash.values() if k.key_id == key_id), None)

    def list_keys(self) -> list[ApiKeyRecord]:
        return sorted(self.keys_by_hash.values(), key=lambda k: (k.created_at, k.key_id))

    def update_key(self, rec: ApiKeyRecord, **fields) -> None:
        for name, value in fields.items():
            setattr(rec, name, value)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self._write(
            f"UPDATE api_keys SET {assignments} WHERE key_id = ?", (*fields.values(), rec.key_id)
        )

    def delete_key(self, rec: ApiKeyRecord) -> None:
        self._write("DELETE FROM api_keys WHERE key_id = ?", (rec.key_id,))
        self.keys_by_hash.pop(rec.key_hash, None)
