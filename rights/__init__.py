"""Rights: licences, review decisions, provenance pages and Content Credentials, and the loops-and-stems market
(`rights.market`). The ledger itself is the base app `ledgerline.ledger`."""
