# The Dynamo 1.x planner's VirtualConnector, for real (ai-dynamo-runtime, installed into
# .venv by scripts/test.sh; reference §6), driven line by line on stdin:
#   planner.py planner NS   "decide P D" -> VirtualConnectorCoordinator.update_scaling_decision
#   planner.py env NS       "complete"   -> VirtualConnectorClient.get + complete
# Each command answers one line on stdout ("ok ..." or "error ..."); "ready" first.
# The coordinator's keys live on this process's etcd lease, as a real planner's do.
import asyncio
import sys

from dynamo._core import VirtualConnectorClient, VirtualConnectorCoordinator
from dynamo.runtime import DistributedRuntime


async def main():
    role, ns = sys.argv[1], sys.argv[2]
    loop = asyncio.get_running_loop()
    rt = DistributedRuntime(loop, "etcd", "tcp")
    if role == "planner":
        c = VirtualConnectorCoordinator(rt, ns, 1, 5, 5)
        await c.async_init()
    else:
        c = VirtualConnectorClient(rt, ns)
    print("ready", flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        words = line.split()
        try:
            if words[0] == "decide":
                await c.update_scaling_decision(int(words[1]), int(words[2]))
                print("ok decided", flush=True)
            elif words[0] == "complete":
                d = await c.get()
                await c.complete(d)
                print(f"ok completed {d}", flush=True)
            else:
                print(f"error unknown command {words[0]}", flush=True)
        except Exception as e:  # said to the test, which fails with it
            print(f"error {e!r}", flush=True)
    rt.shutdown()


asyncio.run(main())
