"""A grpcio server with a thread-pool executor and 20 client threads, over 127.0.0.1.
grpc's C core waits on abseil locks through syscall(SYS_futex) and runs its own
threads; every call's reply is checked and summed."""
import sys
import threading
import zlib
from concurrent import futures

import grpc

from testlib import fail, metric, os_threads

CLIENTS = 20
CALLS = 50
os_max = 0


def sample():
    global os_max
    os_max = max(os_max, os_threads())


def echo_upper(request, context):
    sample()
    return request.upper() + b"|" + str(len(request)).encode()


def total(request_iterator, context):
    n = 0
    for chunk in request_iterator:
        n += len(chunk)
    return str(n).encode()


handler = grpc.method_handlers_generic_handler("test.Echo", {
    "Upper": grpc.unary_unary_rpc_method_handler(echo_upper),
    "Total": grpc.stream_unary_rpc_method_handler(total),
})

server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port("127.0.0.1:0")
server.start()

results = [None] * CLIENTS


def client(i):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        upper = ch.unary_unary("/test.Echo/Upper")
        tot = ch.stream_unary("/test.Echo/Total")
        crc = 0
        for k in range(CALLS):
            msg = f"client {i} call {k} ".encode() * (1 + (i * k) % 7)
            r = upper(msg, timeout=30)
            if r != msg.upper() + b"|" + str(len(msg)).encode():
                fail(f"client {i}: bad reply {r!r}")
            crc = zlib.crc32(r, crc)
        n = tot(iter([b"x" * (100 + i)] * 10), timeout=30)
        results[i] = (crc, int(n))
    sample()


threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
server.stop(grace=None).wait()
sample()
if any(r is None for r in results):
    fail("a client did not finish")
print(f"{CLIENTS} clients x {CALLS} calls: crc sum {sum(r[0] for r in results)}, streamed {sum(r[1] for r in results)} bytes")
metric("os_threads_max", os_max)
