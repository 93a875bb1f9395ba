"""pgrotate's "env" file sink: two lines, PGUSER=... and PGPASSWORD=...,
replaced atomically (rename) at every rotation."""
import sys
import threading
import time


def read_credentials(path):
    cred = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep and key in ("PGUSER", "PGPASSWORD"):
                cred[key] = value
    if not cred.get("PGUSER") or not cred.get("PGPASSWORD"):
        raise ValueError(f"{path}: no PGUSER= or PGPASSWORD= line")
    return cred["PGUSER"], cred["PGPASSWORD"]


class CredentialFile:
    """The file's (user, password), read again when older than ttl seconds."""

    def __init__(self, path, ttl=0.5):
        self.path = path
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value = read_credentials(path)
        self._read_at = time.monotonic()

    def get(self):
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl:
                try:
                    self._value = read_credentials(self.path)
                except (OSError, ValueError) as e:
                    print(f"keeping role {self._value[0]}: {e}",
                          file=sys.stderr, flush=True)
                self._read_at = time.monotonic()
            return self._value
