"""Rights: licences, review decisions, the provenance ledger (here) and the loops-and-stems market (`rights.market`)."""
