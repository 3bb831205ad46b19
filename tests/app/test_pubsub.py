"""The one results stream (ssdlite_detect.pubsub): dropping and blocking subscriptions, draining
on close, drop counts over subscribers that have gone."""
from __future__ import annotations

import threading
import time

import pytest

from ssdlite_detect.pubsub import BLOCK, DROP_OLDEST, Published, ThreadSubscription, Topic


def test_a_blocking_subscription_makes_the_publisher_wait_and_loses_nothing():
    topic = Topic()
    subscription = topic.subscribe(ThreadSubscription(size=2, policy=BLOCK))
    received = []

    def slow_reader():
        while True:
            item = subscription.get(1.0)
            if item is None and subscription.finished:
                return
            if item is not None:
                received.append(item)
                time.sleep(0.02)

    reader = threading.Thread(target=slow_reader)
    reader.start()
    start = time.monotonic()
    for number in range(20):
        topic.publish(number)
    published_in = time.monotonic() - start
    topic.close_all(drain=True)
    reader.join(5)
    assert received == list(range(20)) and subscription.dropped == 0
    assert published_in > 0.2  # the publisher waited for the reader (18 items x 20 ms at least)


def test_a_dropping_subscription_never_makes_the_publisher_wait():
    topic = Topic()
    subscription = topic.subscribe(ThreadSubscription(size=2, policy=DROP_OLDEST))
    start = time.monotonic()
    for number in range(1000):
        topic.publish(number)
    assert time.monotonic() - start < 0.5
    assert subscription.dropped == 998 and [subscription.get(0.1), subscription.get(0.1)] == [998, 999]


def test_closing_releases_a_publisher_that_waits_for_room():
    subscription = ThreadSubscription(size=1, policy=BLOCK)
    subscription.put(Published("first", time.monotonic()))
    threading.Timer(0.2, subscription.close).start()
    start = time.monotonic()
    subscription.put(Published("second", time.monotonic()))  # no reader: only close() frees it
    assert 0.1 < time.monotonic() - start < 2.0
    assert subscription.get(0.1) is None and subscription.finished


def test_close_with_drain_delivers_what_is_queued_first():
    subscription = ThreadSubscription(size=4)
    for number in range(3):
        subscription.put(Published(number, time.monotonic()))
    subscription.close(drain=True)
    assert [subscription.get(0.1) for _ in range(4)] == [0, 1, 2, None] and subscription.dropped == 0


def test_close_without_drain_drops_what_is_queued_and_counts_it():
    subscription = ThreadSubscription(size=4)
    for number in range(3):
        subscription.put(Published(number, time.monotonic()))
    subscription.close()
    assert subscription.get(0.1) is None and subscription.dropped == 3


def test_drops_stay_counted_after_a_subscriber_leaves():
    topic = Topic()
    gone = topic.subscribe(ThreadSubscription(size=1))
    for number in range(3):
        topic.publish(number)
    topic.unsubscribe(gone)
    topic.publish(4)  # nobody listens: nothing more is counted
    assert topic.dropped == 2 + 1 and topic.subscriber_count == 0  # 2 dropped when full, 1 at close


@pytest.mark.parametrize("size, policy", [(0, DROP_OLDEST), (1, "sometimes")])
def test_bad_subscriptions_are_refused(size, policy):
    with pytest.raises(ValueError):
        ThreadSubscription(size=size, policy=policy)
