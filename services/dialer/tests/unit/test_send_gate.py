import itertools

from switchboard.dialer.send_gate import SendGate


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


async def test_sends_due_together_after_a_stall_go_out_spaced() -> None:
    t = FakeTime()
    gate = SendGate(t.clock, t.sleep)
    sent_at = []
    for _ in range(4):  # four slots a stalled loop releases at once: no time passes but the gate's
        await gate.wait_turn("campaign", 0.01)
        sent_at.append(t.now)
    assert [round(b - a, 6) for a, b in itertools.pairwise(sent_at)] == [0.01] * 3


async def test_a_worker_on_schedule_never_waits() -> None:
    t = FakeTime()
    gate = SendGate(t.clock, t.sleep)
    for _ in range(5):
        await gate.wait_turn("campaign", 0.01)
        t.now += 0.0105  # the schedule's own spacing, a little over the gate's interval
    assert t.slept == []


async def test_campaigns_do_not_wait_for_each_other() -> None:
    t = FakeTime()
    gate = SendGate(t.clock, t.sleep)
    await gate.wait_turn("a", 1.0)
    await gate.wait_turn("b", 1.0)
    assert t.slept == []
    await gate.wait_turn("a", 1.0)
    assert t.slept == [1.0]
