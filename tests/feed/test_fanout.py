import asyncio

from perpscope.feed.fanout import Fanout
from perpscope.model import MarkPrice, Venue


def _ev(i: int) -> MarkPrice:
    return MarkPrice(venue=Venue.OKX, symbol="BTC", ts_event=i, ts_recv=i, mark_price=float(i))


async def test_slow_subscriber_drops_oldest_and_counts() -> None:
    fan = Fanout(maxsize=3)
    slow = fan.subscribe()
    fast = fan.subscribe(maxsize=100)
    for i in range(10):
        fan.publish([_ev(i)])
    assert slow.dropped == 7 and fast.dropped == 0
    got = [(await slow.get())[0].ts_event for _ in range(3)]
    assert got == [7, 8, 9]  # the newest survive
    assert fast.queue.qsize() == 10
    fan.unsubscribe(slow)
    fan.publish([_ev(10)])
    assert slow.queue.qsize() == 0


async def test_publish_never_blocks() -> None:
    fan = Fanout(maxsize=1)
    fan.subscribe()
    await asyncio.wait_for(asyncio.to_thread(lambda: None), 1)
    for i in range(10_000):
        fan.publish([_ev(i)])
