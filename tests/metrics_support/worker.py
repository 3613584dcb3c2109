# A real Dynamo 1.x worker (ai-dynamo-runtime 1.6.1, in .venv) for the metrics tests: serves
# one endpoint and, with DYN_SYSTEM_PORT set, its system status server (/metrics, /health).
# Usage: worker.py NS.COMPONENT.ENDPOINT
# A request {"sleep": S, "fail": bool} answers after S seconds (so requests are in flight
# and take a known time), or raises when "fail" is true. Prints "instance <hex id>" once
# registering is under way; SIGTERM/SIGINT shut the runtime down cleanly.
import asyncio
import os
import signal
import sys

from dynamo.runtime import DistributedRuntime


async def handler(request):
    if not isinstance(request, dict):
        request = {}
    delay = float(request.get("sleep", 0) or 0)
    if delay > 0:
        await asyncio.sleep(min(delay, 30.0))
    if request.get("fail"):
        raise RuntimeError("asked to fail")
    yield {"ok": True}


async def main():
    backend = os.environ.get("DYN_DISCOVERY_BACKEND", "file")
    loop = asyncio.get_running_loop()
    runtime = DistributedRuntime(loop, backend, "tcp")
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, runtime.shutdown)
    endpoint = runtime.endpoint(sys.argv[1])
    print(f"instance {endpoint.connection_id():x}", flush=True)
    await endpoint.serve_endpoint(handler)


asyncio.run(main())
