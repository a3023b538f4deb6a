"""The error tree. Every error says what went wrong and what to do next.

Adapters map these to their channel: ``http_status`` for the API, ``exit_code`` for the CLI.

    BotError
    ├── InputError          bad question / request (422; 413 for TooLarge)
    │   ├── TooLargeError
    │   └── HostError           a Host header the server does not answer to (400)
    ├── CorpusError         a corpus file cannot be used (no front matter, not UTF-8, …)
    ├── IndexError_         the index is missing, stale, corrupt or being built
    │   ├── IndexMissingError
    │   ├── IndexStaleError
    │   ├── IndexCorruptError
    │   ├── IndexWriteError     a new build could not be written (disk full, permissions)
    │   └── ReloadError         a running service could not switch builds (the old one serves on)
    ├── NotReadyError       the service is still loading (503)
    ├── NotFoundError       a referenced record does not exist (404)
    ├── AuthError           no or an unknown API key (401)
    ├── ForbiddenError      a known key that may not do this, or from this origin (403)
    ├── RateLimitedError    too many requests for a key or a client address (429)
    └── StorageError        the feedback store cannot be written or read (503)
"""

from __future__ import annotations


class BotError(Exception):
    code = "error"
    http_status = 500
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(BotError):
    code = "bad_input"
    http_status = 422
    exit_code = 2


class TooLargeError(InputError):
    code = "too_large"
    http_status = 413


class HostError(InputError):
    code = "bad_host"
    http_status = 400


class CorpusError(BotError):
    code = "corpus_error"
    exit_code = 3


class IndexError_(BotError):
    code = "index_error"
    http_status = 503
    exit_code = 4


class IndexMissingError(IndexError_):
    code = "index_missing"


class IndexStaleError(IndexError_):
    code = "index_stale"


class IndexCorruptError(IndexError_):
    code = "index_corrupt"


class IndexWriteError(IndexError_):
    code = "index_write_failed"


class ReloadError(IndexError_):
    code = "reload_failed"


class NotReadyError(BotError):
    code = "not_ready"
    http_status = 503
    exit_code = 5


class NotFoundError(BotError):
    code = "not_found"
    http_status = 404
    exit_code = 6


class AuthError(BotError):
    code = "unauthorized"
    http_status = 401
    exit_code = 7


class ForbiddenError(BotError):
    code = "forbidden"
    http_status = 403
    exit_code = 7


class RateLimitedError(BotError):
    code = "rate_limited"
    http_status = 429
    exit_code = 8

    def __init__(self, message: str, *, retry_after: int, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class StorageError(BotError):
    code = "storage_unavailable"
    http_status = 503
    exit_code = 9
