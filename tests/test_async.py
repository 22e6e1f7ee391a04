"""The awaited reads (masked_select_async, nonzero_async, numpy_async): exact
results under gather, cancellation, threads with their own loops, program order
against uploads, and queue.submit kept off the event loop's thread.
(The stall itself is measured in benchmarks/bench_async.py, not asserted here.)"""
import asyncio
import threading

import numpy as np
import pytest

import wgpu_tensor as wt
from wgpu_tensor.runtime import get_device

SIZES = [0, 1, 255, 257, 1023, 4097, 70001]


def _data(rng, n):
    a = rng.standard_normal(n).astype(np.float32)
    return a, rng.random(n) < 0.5


async def _all_three(a, m):
    x, mt = wt.tensor(a), wt.tensor(m)
    sel = await x.masked_select_async(mt)
    nz = await mt.nonzero_async()
    return sel.numpy(), nz.numpy(), await (x * 2).numpy_async()


def test_gather_of_several_is_exact(rng):
    data = [_data(rng, n) for n in SIZES]

    async def main():
        return await asyncio.gather(*(_all_three(a, m) for a, m in data))

    for (a, m), (sel, nz, dbl) in zip(data, asyncio.run(main())):
        assert np.array_equal(sel, a[m])
        assert np.array_equal(nz, np.argwhere(m).astype(np.int32))
        assert np.array_equal(dbl, a * 2)


@pytest.mark.parametrize("when", ["before_start", "while_waiting"])
def test_cancelling_one_leaves_the_others_exact(rng, when):
    data = [_data(rng, n) for n in (257, 4097, 70001, 1023)]
    xs = [(wt.tensor(a), wt.tensor(m)) for a, m in data]

    async def main():
        tasks = [asyncio.ensure_future(x.masked_select_async(m)) for x, m in xs]
        if when == "while_waiting":
            await asyncio.sleep(0)  # every task has queued its read and awaits a worker
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    res = asyncio.run(main())
    assert isinstance(res[1], asyncio.CancelledError)
    for i in (0, 2, 3):
        a, m = data[i]
        assert np.array_equal(res[i].numpy(), a[m])
    # the device goes on: the cancelled read's batch was submitted, later reads are exact
    x, m = xs[1]
    assert np.array_equal(asyncio.run(x.masked_select_async(m)).numpy(), data[1][0][data[1][1]])
    assert np.array_equal(x[m].numpy(), data[1][0][data[1][1]])


def test_threads_each_with_their_own_loop(rng):
    data = [[_data(rng, n) for n in (1, 257, 4097, 70001)] for _ in range(4)]
    results, errors = [None] * 4, []

    def worker(i):
        async def main():
            return await asyncio.gather(*(_all_three(a, m) for a, m in data[i]))
        try:
            results[i] = asyncio.run(main())
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i in range(4):
        for (a, m), (sel, nz, dbl) in zip(data[i], results[i]):
            assert np.array_equal(sel, a[m])
            assert np.array_equal(nz, np.argwhere(m).astype(np.int32))
            assert np.array_equal(dbl, a * 2)


def test_upload_after_a_queued_read_keeps_program_order(rng):
    """read_async leaves its batch for a worker to submit; an upload into a buffer
    that batch reads must wait for that submit (else the batch would see the new
    bytes). The worker is held back on the submit lock to make the race certain."""
    dev = get_device()
    a, m = _data(rng, 4097)
    x, mt = wt.tensor(a), wt.tensor(m)
    dev.synchronize()

    async def main():
        dev._submit_lock.acquire()
        task = asyncio.ensure_future(x.masked_select_async(mt))
        await asyncio.sleep(0)  # the read is recorded and its batch queued, not submitted
        assert dev._batches
        threading.Timer(0.05, dev._submit_lock.release).start()
        dev.upload(x._v._buf, np.full(4097, 7.0, np.float32))  # waits for the queued batch
        return await task

    assert np.array_equal(asyncio.run(main()).numpy(), a[m])
    assert np.array_equal(x.numpy(), np.full(4097, 7.0, np.float32))


class _RecordingQueue:
    """dev.queue stand-in that notes the thread of every submit."""

    def __init__(self, queue):
        self._queue, self.threads = queue, []

    def submit(self, cbs):
        self.threads.append(threading.current_thread())
        self._queue.submit(cbs)

    def __getattr__(self, name):
        return getattr(self._queue, name)


def test_awaited_reads_submit_off_the_loop_thread(rng):
    dev = get_device()
    data = [_data(rng, n) for n in (257, 70001, 4097)]
    xs = [(wt.tensor(a), wt.tensor(m)) for a, m in data]
    dev.synchronize()
    rec = _RecordingQueue(dev.queue)
    dev.queue = rec
    try:
        res = []

        async def main():  # returns nothing: asyncio.run reprs a returned Tensor (a read)
            res.extend(await asyncio.gather(*(x.masked_select_async(m) for x, m in xs)))
        asyncio.run(main())
        submitted = list(rec.threads)
    finally:
        dev.queue = rec._queue
    assert submitted and threading.main_thread() not in submitted
    for (a, m), r in zip(data, res):
        assert np.array_equal(r.numpy(), a[m])
