"""Round trips, reads, views, rejects and locks of the embedded store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import pyarrow as pa
import pytest

from perpscope.errors import StoreError
from perpscope.model import EVENT_TYPES, Kind, Side, Trade, Venue
from perpscope.store import SCHEMAS, VIEW_NAMES, Store
from perpscope.store.layout import NS_PER_DAY

HERE = Path(__file__).resolve().parent
T0 = 1_780_000_000_000_000_000
SEC = 1_000_000_000


def _key(events: list) -> Counter:
    return Counter(msgspec.json.encode(e) for e in events)


def test_view_names_cover_every_kind() -> None:
    assert set(VIEW_NAMES) == set(Kind)
    assert VIEW_NAMES[Kind.LIQUIDATION] == "liquidations"
    assert VIEW_NAMES[Kind.BOOK_DELTA] == "book_deltas"
    assert len(set(VIEW_NAMES.values())) == len(Kind)


def test_schema_follows_the_model() -> None:
    assert SCHEMAS[Kind.TRADE].names == [
        "venue",
        "symbol",
        "ts_event",
        "ts_recv",
        "side",
        "price",
        "quantity",
        "notional_usd",
        "trade_id",
    ]
    assert SCHEMAS[Kind.TRADE].field("ts_event").type == pa.int64()
    assert SCHEMAS[Kind.TRADE].field("side").type == pa.string()
    levels = SCHEMAS[Kind.BOOK_DELTA].field("bids").type
    assert levels == pa.list_(pa.struct([("price", pa.float64()), ("size", pa.float64())]))
    assert SCHEMAS[Kind.CASCADE].field("venues").type == pa.list_(pa.string())
    for kind, cls in EVENT_TYPES.items():
        assert SCHEMAS[kind].names == [f for f in cls.__struct_fields__], kind


@pytest.mark.parametrize("via", ["writer", "batch"])
def test_round_trip_every_kind(store: Store, sample, via: str) -> None:
    events = [e for i in range(4) for e in sample(i)] + sample(9, venue=Venue.OKX, symbol="ETH")
    if via == "writer":
        with store.writer() as w:
            w.extend(events)
        assert w.rows_written == len(events)
        assert not w.rejected
    else:
        assert store.write_batch(events) == len(events)
    for kind in Kind:
        want = [e for e in events if e.kind_name is kind]
        got = store.events(kind)
        assert _key(got) == _key(want), kind
        assert [e.ts_event for e in got] == sorted(e.ts_event for e in want)
        assert all(type(e) is EVENT_TYPES[kind] for e in got)
        # the view serves the same rows
        assert store.query(f"SELECT count(*) AS n FROM {VIEW_NAMES[kind]}").column("n")[0].as_py() == len(
            want
        )


def test_layout_is_partitioned_by_kind_venue_symbol_day(store: Store, sample) -> None:
    day2 = T0 + NS_PER_DAY
    store.write_batch(sample(0) + sample(0, ts=day2) + sample(1, venue=Venue.BYBIT, symbol="SOL"))
    rel = sorted(str(p.parent.relative_to(store.root)) for p in store.root.rglob("*.parquet"))
    assert "trade/venue=binance/symbol=BTC/date=2026-05-28" in rel
    assert "trade/venue=binance/symbol=BTC/date=2026-05-29" in rel
    assert "liquidation/venue=bybit/symbol=SOL/date=2026-05-28" in rel
    assert len(rel) == 30


def test_read_filters_sorts_and_projects(store: Store, make_trades) -> None:
    a = make_trades(50, seed=1, venue=Venue.BYBIT, symbol="ETH")
    b = make_trades(50, seed=2, venue=Venue.OKX, symbol="ETH", start=T0 + 500_000)
    c = make_trades(10, seed=3, venue=Venue.BYBIT, symbol="SOL", start=T0 - 2 * NS_PER_DAY)
    store.write_batch(b[::-1])  # out of order on purpose
    store.write_batch(a + c)
    table = store.read(Kind.TRADE)
    ts = table.column("ts_event").to_pylist()
    assert ts == sorted(ts) and len(ts) == 110
    assert store.read("trades", venue="okx").num_rows == 50
    assert store.read("trade", venue=["okx", Venue.BYBIT], symbol="ETH").num_rows == 100
    assert store.read("trades", symbol="SOL").num_rows == 10
    start, end = T0 + 10_000_000, T0 + 20_000_000
    window = store.read("trades", start_ns=start, end_ns=end, columns=["price", "ts_event"])
    assert window.column_names == ["price", "ts_event"]
    assert all(start <= t < end for t in window.column("ts_event").to_pylist())
    assert window.num_rows == sum(1 for e in a + b + c if start <= e.ts_event < end)
    assert store.read("trades", columns=["price"]).column_names == ["price"]
    with pytest.raises(StoreError, match="no column"):
        store.read("trades", columns=["nope"])
    with pytest.raises(StoreError, match="unknown event kind"):
        store.read("nope")


def test_fresh_store_has_empty_views_with_schema(tmp_path: Path) -> None:
    store = Store(tmp_path / "never-written")
    for kind, view in VIEW_NAMES.items():
        t = store.query(f"SELECT * FROM {view}")
        assert t.num_rows == 0
        assert t.column_names == SCHEMAS[kind].names
        assert store.read(kind).schema == SCHEMAS[kind]
    assert store.query("SELECT sum(notional_usd) AS s FROM liquidations WHERE side = 'long'").num_rows == 1
    assert store.stats().rows == 0


def test_query_is_read_only_and_reports_bad_sql(store: Store, sample) -> None:
    store.write_batch(sample(0))
    outside = store.root.parent / "outside.csv"
    outside.write_text("a\n1\n")
    for sql in [
        "DELETE FROM trades",
        "CREATE TABLE x AS SELECT 1",
        f"COPY (SELECT * FROM trades) TO '{store.root}/x.csv'",
        "INSERT INTO trades SELECT * FROM trades",
        f"ATTACH '{store.root}/x.db'",
        "SET enable_external_access=true",
        "SELECT 1; SELECT 2",
    ]:
        with pytest.raises(StoreError):
            store.query(sql)
    with pytest.raises(StoreError, match="query failed"):  # files outside the store are not readable
        store.query(f"SELECT * FROM read_csv('{outside}')")
    with pytest.raises(StoreError, match="bad SQL"):
        store.query("SELEC 1")
    with pytest.raises(StoreError, match="nope"):
        store.query("SELECT * FROM nope")
    assert not list(store.root.rglob("x.*"))
    t = store.query("SELECT price FROM trades WHERE venue = ? AND symbol = ?", ["binance", "BTC"])
    assert t.column("price").to_pylist() == [60_001.0]
    assert store.query("EXPLAIN SELECT * FROM trades").num_rows >= 1


def test_writer_rejects_bad_events_without_writing_them(store: Store) -> None:
    good = Trade(
        venue=Venue.BINANCE,
        symbol="BTC",
        ts_event=T0,
        ts_recv=T0,
        side=Side.BUY,
        price=1.0,
        quantity=1.0,
        notional_usd=1.0,
    )
    bad = [
        msgspec.structs.replace(good, price="abc"),  # wrong type
        msgspec.structs.replace(good, venue="nowhere"),  # unknown enum value
        msgspec.structs.replace(good, quantity=float("nan")),
        msgspec.structs.replace(good, symbol="../etc"),  # not usable as a directory name
        msgspec.structs.replace(good, ts_event=-5),
        "not an event",
    ]
    with store.writer() as w:
        w.append(good)
        w.extend(bad)  # type: ignore[arg-type]
        w.append(msgspec.structs.replace(good, ts_event=T0 + 1))
    assert w.rejected.total == len(bad)
    reasons = "\n".join(w.rejected.reasons)
    for word in [
        "trade.price",
        "trade.venue",
        "trade.quantity",
        "trade.symbol",
        "trade.ts_event",
        "not a perpscope",
    ]:
        assert word in reasons
    assert store.read("trades").column("ts_event").to_pylist() == [T0, T0 + 1]
    with pytest.raises(StoreError):
        store.write_batch([good, bad[0]])
    assert store.read("trades").num_rows == 2


def test_writer_flushes_on_size_interval_and_close(store: Store, make_trades) -> None:
    events = make_trades(25)
    flushed: list[list[tuple[Kind, int]]] = []
    w = store.writer(flush_interval_s=3600, max_buffer=10, background=False)
    w.on_flush = flushed.append
    w.extend(events)
    assert w.rows_written == 20 and w.buffered == 5
    assert flushed == [[(Kind.TRADE, 10)], [(Kind.TRADE, 10)]]
    assert store.read("trades").num_rows == 20  # visible to readers before close
    w.close()
    assert store.read("trades").num_rows == 25
    w.close()  # idempotent

    w = store.writer(flush_interval_s=0.05, max_buffer=10_000)  # background timer flushes a quiet buffer
    try:
        w.append(make_trades(1, start=T0 + 10 * NS_PER_DAY)[0])
        deadline = time.monotonic() + 5
        while w.rows_written == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert w.rows_written == 1
    finally:
        w.close()
    with pytest.raises(StoreError, match="closed"):
        w.append(events[0])


def test_one_writer_at_a_time(store: Store) -> None:
    w = store.writer()
    with pytest.raises(StoreError, match="only one at a time"):
        store.writer()
    w.close()
    store.writer().close()  # released

    proc = subprocess.Popen(
        [sys.executable, str(HERE / "proc_writer.py"), str(store.root), "hold"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(StoreError, match=rf"pid {proc.pid}"):
            store.writer()
        # imports and readers are not blocked by the streaming writer
        store.write_batch(
            Trade(
                venue=Venue.BINANCE,
                symbol="BTC",
                ts_event=T0,
                ts_recv=T0,
                side=Side.BUY,
                price=1.0,
                quantity=1.0,
                notional_usd=1.0,
            )
            for _ in range(1)
        )
        assert store.query("SELECT count(*) AS n FROM trades").column("n")[0].as_py() == 1
    finally:
        proc.kill()
        proc.wait()
    store.writer().close()  # the kernel released the dead holder's lock


def test_batch_lock_serializes_imports(store: Store) -> None:
    with store.batch(source_id="a") as b:
        with pytest.raises(StoreError, match="import or compaction"):
            store.write_batch([])
        with pytest.raises(StoreError, match="import or compaction"):
            store.compact()
        b.add_events([])


def test_source_id_replaces_instead_of_duplicating(store: Store, make_trades) -> None:
    first = make_trades(30, seed=1)
    store.write_batch(first, source_id="file-a")
    store.write_batch(first, source_id="file-a")
    assert store.read("trades").num_rows == 30
    # new content for the same source replaces it, including partitions it no longer covers
    second = make_trades(5, seed=2, start=T0 + 3 * NS_PER_DAY)
    store.write_batch(second, source_id="file-a")
    assert store.read("trades").num_rows == 5
    assert len(store.files("trades")) == 1
    store.write_batch(first, source_id="file-b")
    assert store.read("trades").num_rows == 35
    rec = store.source("file-a")
    assert rec is not None and rec.rows == {"trade": 5} and len(rec.files) == 1
    assert store.source("never") is None


def test_stats_counts_rows_files_and_span(store: Store, make_trades, sample) -> None:
    store.write_batch(make_trades(40))
    store.write_batch(make_trades(10, start=T0 + NS_PER_DAY))
    store.write_batch(sample(0))
    st = store.stats().by_view()
    assert st["trades"].rows == 51 and st["trades"].files == 3 and st["trades"].partitions == 3
    assert st["trades"].first_ts == T0 and st["trades"].last_ts == T0 + NS_PER_DAY + 9_000_000
    assert st["bars"].rows == 1 and st["liquidations"].bytes > 0
    assert store.stats().rows == 51 + 9


def test_default_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERPSCOPE_DATA_DIR", str(tmp_path / "env"))
    assert Store().root == tmp_path / "env"
    assert Store(tmp_path / "x").root == tmp_path / "x"


def test_temp_files_are_invisible(store: Store, make_trades) -> None:
    store.write_batch(make_trades(3))
    part = store.files("trades")[0].parent
    (part / ".tmp-123-0-part-x.parquet").write_bytes(b"PAR1 half written")
    assert store.read("trades").num_rows == 3
    assert store.query("SELECT count(*) AS n FROM trades").column("n")[0].as_py() == 3
    assert os.path.exists(part / ".tmp-123-0-part-x.parquet")


def test_files_from_an_older_schema_still_read(store: Store, make_trades) -> None:
    """A file written before a column existed reads that column as null (views fall back to by-name)."""

    import pyarrow.parquet as pq

    new = make_trades(3, seed=1)
    store.write_batch(new)
    part = store.files("trades")[0].parent
    old = store.read("trades").drop_columns(["trade_id"]).slice(0, 2)
    old = old.set_column(old.column_names.index("price"), "price", pa.array([1.0, 2.0]))
    pq.write_table(old, part / "part-00000000000000000001-1-000001.parquet")
    for sql in [
        "SELECT count(*) AS n, count(trade_id) AS k FROM trades",
        "SELECT count(*) AS n, 3 AS k FROM trades",
    ]:
        t = store.query(sql).to_pylist()[0]
        assert t == {"n": 5, "k": 3}
    got = store.events("trades")
    assert sorted(e.trade_id for e in got) == ["", "", "0", "1", "2"]
    assert store.read("trades", columns=["trade_id"]).column("trade_id").null_count == 2


def test_a_failed_flush_keeps_what_was_not_written_and_never_duplicates(
    store: Store, make_trades, monkeypatch: pytest.MonkeyPatch
) -> None:
    from perpscope.store import layout

    events = make_trades(10, symbol="ETH") + make_trades(10, symbol="SOL") + make_trades(10, symbol="XRP")
    real = layout.write_parquet_atomic
    calls = {"n": 0}

    def flaky(final: Path, table: pa.Table, **kw: object) -> int:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(final, table, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(layout, "write_parquet_atomic", flaky)
    w = store.writer(background=False)
    w.extend(events)
    with pytest.raises(OSError, match="No space"):
        w.flush()
    assert store.read("trades").num_rows == 10 and w.buffered == 20
    w.close()
    got = store.read("trades")
    assert got.num_rows == 30
    assert sorted(got.column("symbol").to_pylist()) == ["ETH"] * 10 + ["SOL"] * 10 + ["XRP"] * 10
