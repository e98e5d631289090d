"""An SMTP server (aiosmtpd) that keeps every message it receives as a file,
for the mail tests: prints its port, then serves until stdin closes.

Usage: python3 smtp_sink.py DIR
"""

import itertools
import pathlib
import socket
import sys

from aiosmtpd.controller import Controller

directory = pathlib.Path(sys.argv[1])
directory.mkdir(parents=True, exist_ok=True)
numbers = itertools.count(1)


class Keep:
    async def handle_DATA(self, server, session, envelope):
        number = next(numbers)
        name = directory / f"{number:04}.eml"
        partial = directory / f"{number:04}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(name)
        return "250 Message accepted for delivery"


# A free port (aiosmtpd's start-up check cannot use port 0).
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
controller = Controller(Keep(), hostname="127.0.0.1", port=port)
controller.start()
print(port, flush=True)
sys.stdin.read()
controller.stop()
