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
    wid = f"{endpoint.connection_id():x}"
    # An engine's KV-cache use, as engines add their series to /metrics (an exposition
    # callback): WORKER_KV_USAGE=0.25, WORKER_KV_NAME=kvstats (older name) or plain.
    kv = os.environ.get("WORKER_KV_USAGE")
    if kv:
        ns, comp, ep = sys.argv[1].split(".")
        prefix = "kvstats_" if os.environ.get("WORKER_KV_NAME") == "kvstats" else ""
        name = f"dynamo_component_{prefix}gpu_cache_usage_percent"
        text = (
            f"# HELP {name} GPU cache usage\n# TYPE {name} gauge\n"
            f'{name}{{dynamo_namespace="{ns}",dynamo_component="{comp}",'
            f'dynamo_endpoint="{ep}",worker_id="{wid}"}} {float(kv)}\n'
        )
        endpoint.metrics.register_prometheus_expfmt_callback(lambda: text)
    print(f"instance {wid}", flush=True)
    await endpoint.serve_endpoint(handler)


asyncio.run(main())
