"""Fan-out pieces that need no server: the rate cap shared by several connections."""

from __future__ import annotations

import itertools
import threading

from bot.fanout import Throttle


class VirtualTime:
    """A clock that only moves when someone sleeps: the throttle's arithmetic, without depending on timing."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def test_the_rate_cap_spaces_messages_evenly() -> None:
    time = VirtualTime()
    throttle = Throttle(50.0, clock=time.clock, sleep=time.sleep)
    starts = []
    for _ in range(200):
        throttle.wait()
        starts.append(time.clock())
    assert starts[0] == 0.0
    assert abs(starts[-1] - 199 / 50) < 1e-9  # 200 messages at 50 a second: the last leaves at 3.98 s
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(starts)}
    assert gaps == {0.02}


def test_a_batch_takes_as_many_tokens_as_it_has_messages() -> None:
    time = VirtualTime()
    throttle = Throttle(100.0, clock=time.clock, sleep=time.sleep)
    throttle.wait(1000)  # a mail API call of 1,000 recipients
    throttle.wait(1)
    assert abs(time.clock() - 10.0) < 1e-9
