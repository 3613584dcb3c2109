# A real Dynamo 1.x client (ai-dynamo-runtime 1.6.1) for the metrics tests: waits for
# INSTANCES instances of NS.COMPONENT.ENDPOINT, then sends RATE requests per second in
# round robin for SECONDS seconds (bounded: at most RATE*SECONDS requests, each with its
# own timeout), each asking the worker to take SLEEP seconds; FAIL_EVERY > 0 makes every
# Nth request ask the worker to fail. Prints "ready" once the instances are seen, then
# "sent N ok M failed K" at the end. Loopback only (discovery by the file store).
# Usage: client.py NS.COMPONENT.ENDPOINT INSTANCES RATE SECONDS [SLEEP] [FAIL_EVERY]
import asyncio
import os
import signal
import sys
import time

from dynamo.runtime import DistributedRuntime


async def one(client, payload, counts):
    try:
        async def consume():
            async for _ in await client.round_robin(payload):
                pass
        await asyncio.wait_for(consume(), timeout=10)
        counts["ok"] += 1
    except Exception:
        counts["failed"] += 1


async def main():
    path, want = sys.argv[1], int(sys.argv[2])
    rate, seconds = float(sys.argv[3]), float(sys.argv[4])
    sleep = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    fail_every = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    backend = os.environ.get("DYN_DISCOVERY_BACKEND", "file")
    loop = asyncio.get_running_loop()
    runtime = DistributedRuntime(loop, backend, "tcp")
    client = await runtime.endpoint(path).client()
    deadline = time.monotonic() + 60
    while len(client.instance_ids()) < want:
        if time.monotonic() > deadline:
            print("timeout waiting for instances", flush=True)
            sys.exit(1)
        await asyncio.sleep(0.05)
    print("ready", flush=True)
    counts = {"ok": 0, "failed": 0}
    total = int(rate * seconds)
    start = time.monotonic()
    tasks = []
    for i in range(total):
        at = start + i / rate
        now = time.monotonic()
        if at > now:
            await asyncio.sleep(at - now)
        payload = {"sleep": sleep, "fail": fail_every > 0 and (i + 1) % fail_every == 0}
        tasks.append(asyncio.create_task(one(client, payload, counts)))
    await asyncio.gather(*tasks)
    print(f"sent {total} ok {counts['ok']} failed {counts['failed']}", flush=True)
    runtime.shutdown()


asyncio.run(main())
