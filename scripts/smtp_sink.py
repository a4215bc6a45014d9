#!/usr/bin/env python3
"""A real SMTP server for doorman's mail tests (aiosmtpd): every message it
accepts is written to DIR as NNNNN.eml, numbered in the order received, and
written completely (a temporary name, then a rename) before the server
answers 250. It listens on 127.0.0.1 on a port the system picks, prints
"listening on PORT" once it accepts connections, and runs until killed.

    python3 scripts/smtp_sink.py DIR
"""

import os
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.lock = threading.Lock()
        self.count = len([n for n in os.listdir(folder) if n.endswith(".eml")])

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            name = os.path.join(self.folder, "%05d.eml" % self.count)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8")
        tmp = name + ".tmp"
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, name)
        return "250 OK"


class AnyPort(Controller):
    """Binds port 0 and reports the port it got."""

    def _trigger_server(self):
        # The base class connects to (hostname, port) to start the server;
        # with port 0 it must learn the real port first.
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: smtp_sink.py DIR")
    folder = sys.argv[1]
    os.makedirs(folder, exist_ok=True)
    controller = AnyPort(Sink(folder), hostname="127.0.0.1", port=0)
    controller.start()
    print("listening on %d" % controller.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
