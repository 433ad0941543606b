"""Release logic: inspection, go/no-go checks, deploy watch, log classification, rollback."""
