# A real Dynamo 1.x worker (ai-dynamo-runtime, installed into .venv by scripts/test.sh):
# serves one endpoint, so it registers in discovery exactly as Dynamo's own workers do
# (DYN_DISCOVERY_BACKEND=etcd with ETCD_ENDPOINTS, or =file with DYN_FILE_KV).
# Usage: worker.py NS.COMPONENT.ENDPOINT [ignored args...]
# Prints "instance <hex id>" once registered is under way; SIGTERM/SIGINT shut the runtime
# down cleanly (its registration is removed), as Dynamo's components do.
import asyncio
import os
import signal
import sys

from dynamo.runtime import DistributedRuntime


async def handler(request):
    yield {"ok": True}


async def main():
    backend = os.environ.get("DYN_DISCOVERY_BACKEND", "etcd")
    loop = asyncio.get_running_loop()
    runtime = DistributedRuntime(loop, backend, "tcp")
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, runtime.shutdown)
    endpoint = runtime.endpoint(sys.argv[1])
    print(f"instance {endpoint.connection_id():x}", flush=True)
    await endpoint.serve_endpoint(handler)


asyncio.run(main())
