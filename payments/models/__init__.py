from payments.models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction

__all__ = ["LedgerAccount", "LedgerEntry", "LedgerTransaction"]
