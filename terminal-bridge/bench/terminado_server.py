"""Serves terminado (Jupyter's terminal server) on 127.0.0.1 for the terminal benchmark.

Usage: terminado_server.py PORT. Every WebSocket on /websocket gets a new shell (the command
in BENCH_SHELL, split on spaces; default `bash --norc --noprofile -i`), killed when the socket
closes. Prints `listening` once the port is bound.
"""

import asyncio
import os
import sys

import tornado.web
from terminado import TermSocket, UniqueTermManager


async def main() -> None:
    port = int(sys.argv[1])
    shell = os.environ.get("BENCH_SHELL", "bash --norc --noprofile -i").split(" ")
    manager = UniqueTermManager(shell_command=shell)
    app = tornado.web.Application(
        [(r"/websocket", TermSocket, {"term_manager": manager})]
    )
    app.listen(port, "127.0.0.1")
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
