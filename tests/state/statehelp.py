"""Ids from the demo scenario used by the lock and ledger tests."""

WEB = "srv-hjtl316kyssqmyi4ywa3"  # demo scenario: "web"
