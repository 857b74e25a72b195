"""The end-to-end tests' SMTP server, started by e2e/serve.sh.

aiosmtpd's Mailbox handler writes each message it accepts into a Maildir (MAILDIR/new, with
the envelope recipients in X-RcptTo), as the API tests' sink does
(orrery-server/tests/api/smtp_sink.rs). Prints the setting that points the server at it,
ORRERY_SMTP_URL=smtp://127.0.0.1:PORT, then serves until it is terminated or the process that
started it is gone.

Usage: python smtp-sink.py MAILDIR
"""

import os
import socket
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

folder = sys.argv[1]
for sub in ("cur", "new", "tmp"):
    os.makedirs(os.path.join(folder, sub), exist_ok=True)
# A free port: aiosmtpd's controller checks readiness by connecting, so it needs a real one.
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
controller = Controller(Mailbox(folder), hostname="127.0.0.1", port=port)
controller.start()
print(f"ORRERY_SMTP_URL=smtp://127.0.0.1:{port}", flush=True)
parent = os.getppid()
try:
    # Started in the background by a shell, standard input is /dev/null: watch the parent.
    while os.getppid() == parent:
        time.sleep(0.5)
finally:
    controller.stop()
