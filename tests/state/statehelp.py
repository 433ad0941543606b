"""Demo ids used by the lock and ledger tests."""

from demo import WEB  # noqa: F401  (tests/demo.py is the one place)
