#!/usr/bin/python3
"""az-token-endpoint.py: a managed-identity token endpoint on 127.0.0.1 so that `az` can log
in to rpd (`az login --identity` with MSI_ENDPOINT pointing here; see README, "az").

Usage: scripts/az-token-endpoint.py --data DIR [--subscription ID] [--port 50342] [--rpctl PATH]

az POSTs `resource=...` with the header `Metadata: true`; the answer is a bearer token for the
subscription, minted by `rpctl token --data DIR` (so this runs where the data directory's
signing key is readable), valid one hour. It listens on 127.0.0.1 only: anyone who can reach
it gets a token.
"""

import argparse
import http.server
import json
import os
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--subscription", default="00000000-0000-0000-0000-000000000001")
    ap.add_argument("--port", type=int, default=50342)
    ap.add_argument("--rpctl", default=os.path.join(HERE, "..", "build", "src", "cli", "rpctl"))
    a = ap.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            form = dict(p.split("=", 1) for p in self.rfile.read(n).decode().split("&") if "=" in p)
            if self.headers.get("Metadata") != "true":
                self.send_error(400, "Metadata: true is required")
                return
            token = subprocess.check_output([a.rpctl, "token", "--data", a.data, "--subscription",
                                             a.subscription, "--lifetime", "3600"]).decode().strip()
            body = json.dumps({"access_token": token, "token_type": "Bearer",
                               "expires_in": "3600", "expires_on": str(int(time.time()) + 3600),
                               "resource": form.get("resource", "")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt, *args):
            pass

    http.server.HTTPServer(("127.0.0.1", a.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
