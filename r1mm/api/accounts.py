"""API keys and what each account has: its workspace, its rate limit and its metered usage."""
from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from r1mm.workspace import Workspace


@dataclass
class ServerConfig:
    root: Path
    keys: dict[str, str]  # api key -> account name
    requests_per_minute: int = 120
    max_request_mb: float = 512.0
    price_per_1k_tokens: float = 0.0  # cost estimate shown in /v1/usage, in the operator's currency
    model: str | None = None  # a fine-tune saved by R1Model.save_pretrained; None: the built decoder

    @classmethod
    def from_env(cls, root: Path) -> ServerConfig:
        raw = os.environ.get("R1MM_API_KEYS", "")
        keys = {}
        for entry in filter(None, (e.strip() for e in raw.split(","))):
            name, _, key = entry.partition(":")
            if not key or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise ValueError(f"R1MM_API_KEYS entry {entry!r} is not NAME:KEY")
            keys[key] = name
        if not keys:
            raise ValueError("no API keys: set R1MM_API_KEYS=name:key[,name:key…]")
        return cls(root=root, keys=keys,
                   requests_per_minute=int(os.environ.get("R1MM_API_RPM", 120)),
                   max_request_mb=float(os.environ.get("R1MM_API_MAX_REQUEST_MB", 512)),
                   price_per_1k_tokens=float(os.environ.get("R1MM_API_PRICE_PER_1K", 0)))


@dataclass
class _Bucket:
    tokens: float
    updated: float = field(default_factory=time.monotonic)


class RateLimiter:
    """Token bucket per key: `per_minute` requests, refilled continuously."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else seconds to wait."""
        with self._lock:
            now = time.monotonic()
            b = self._buckets.setdefault(key, _Bucket(float(self.per_minute), now))
            b.tokens = min(self.per_minute, b.tokens + (now - b.updated) * self.per_minute / 60.0)
            b.updated = now
            if b.tokens >= 1:
                b.tokens -= 1
                return 0.0
            return (1 - b.tokens) * 60.0 / self.per_minute


class Meter:
    """Usage per account, kept in ROOT/usage.sqlite (survives restarts)."""

    def __init__(self, path: Path):
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS usage (account TEXT PRIMARY KEY, requests INTEGER, "
                         "tokens_in INTEGER, tokens_out INTEGER, audio_s REAL, ct_slices INTEGER)")
        self._lock = threading.Lock()

    def add(self, account: str, requests=0, tokens_in=0, tokens_out=0, audio_s=0.0, ct_slices=0) -> None:
        with self._lock:
            self._db.execute("INSERT INTO usage VALUES (?, 0, 0, 0, 0, 0) ON CONFLICT(account) DO NOTHING", (account,))
            self._db.execute("UPDATE usage SET requests = requests + ?, tokens_in = tokens_in + ?, "
                             "tokens_out = tokens_out + ?, audio_s = audio_s + ?, ct_slices = ct_slices + ? "
                             "WHERE account = ?", (requests, tokens_in, tokens_out, audio_s, ct_slices, account))

    def get(self, account: str) -> dict:
        with self._lock:
            row = self._db.execute("SELECT requests, tokens_in, tokens_out, audio_s, ct_slices FROM usage "
                                   "WHERE account = ?", (account,)).fetchone() or (0, 0, 0, 0.0, 0)
        return dict(zip(("requests", "tokens_in", "tokens_out", "audio_seconds", "ct_slices"), row))


class Accounts:
    """Each account's workspace (ROOT/keys/NAME: one key never sees another's files), the lock that
    keeps its file changes one at a time, its rate limit and its usage meter.

    Questions take no account lock: the workspace's store serialises its own queries, so an answer
    being streamed (or a client gone before its stream began) never holds up the account.
    """

    def __init__(self, config: ServerConfig, decoder=None, projectors: dict | None = None):
        self.config = config
        self.decoder, self.projectors = decoder, projectors  # one model for every account
        self.limiter = RateLimiter(config.requests_per_minute)
        self.meter = Meter(config.root / "usage.sqlite")
        self._workspaces: dict[str, Workspace] = {}
        self._file_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def name_of(self, key: str) -> str | None:
        return self.config.keys.get(key)

    def workspace(self, name: str) -> Workspace:
        with self._lock:
            if name not in self._workspaces:
                self._workspaces[name] = Workspace(self.config.root / "keys" / name, decoder=self.decoder,
                                                   projectors=self.projectors)
                self._file_locks[name] = threading.Lock()
            return self._workspaces[name]

    def file_lock(self, name: str) -> threading.Lock:
        """Held while an upload or a retry of the account is processed."""
        self.workspace(name)
        return self._file_locks[name]
