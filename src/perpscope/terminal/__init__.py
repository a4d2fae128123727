"""Terminal presentation (rich): the live liquidation tape and status tables."""
