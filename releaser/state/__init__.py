"""Release locks and the ledger: who changed what, one release at a time."""
