"""ledger: the record index, access grants, access log and verification (see README.md).

Entry points: ``ledger.service.open_ledger``, ``ledger.client.LedgerClient``,
``ledger.verify.verify``, ``ledger.router.router``, ``ledger.cli.app``.
"""
