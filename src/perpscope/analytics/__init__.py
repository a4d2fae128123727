"""Market structure around the heatmap, as pure functions over arrays, Arrow tables and model events:
liquidation cascades (:mod:`.cascades`), funding (:mod:`.funding`), open interest (:mod:`.open_interest`),
CVD / order-book imbalance / quadrant / footprint (:mod:`.orderflow`), cross-venue depth (:mod:`.depth`),
heatmap bands (:mod:`.bands`) and the per-band confluence report (:mod:`.confluence`). See
docs/analytics.md."""
