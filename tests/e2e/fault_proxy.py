"""A TCP proxy for fault tests: sits on the link between two rpd hosts (TLS passes through
untouched), counts the bytes each way, and on demand severs connections once they have
carried a number of bytes back to the client, or holds new connections for a while."""
import socket
import threading
import time


class FaultProxy:
    def __init__(self, target_port, host="127.0.0.1"):
        self.target = (host, target_port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.down_bytes = 0        # server -> client (the chunks the target pulls)
        self.up_bytes = 0
        self.sever_after = None    # sever a connection once it carried this many bytes down
        self.sever_left = 0        # ... this many times
        self.severed = 0
        self.delay_every = 0       # hold every n-th new connection ...
        self.delay_s = 0.0         # ... this long
        self.delayed = 0
        self.connections = 0
        self.stopping = False
        self.socks = set()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, n):
        if self.delay_every and n % self.delay_every == 0:
            with self.lock:
                self.delayed += 1
            time.sleep(self.delay_s)
        try:
            s = socket.create_connection(self.target, timeout=10)
        except OSError:
            c.close()
            return
        with self.lock:
            self.socks.update((c, s))
        state = {"down": 0, "cut": False}
        t = threading.Thread(target=self._pipe, args=(c, s, False, state), daemon=True)
        t.start()
        self._pipe(s, c, True, state)
        t.join(timeout=30)
        for x in (c, s):
            try:
                x.close()
            except OSError:
                pass
        with self.lock:
            self.socks.discard(c)
            self.socks.discard(s)

    def _pipe(self, src, dst, down, state):
        while True:
            try:
                b = src.recv(65536)
            except OSError:
                b = b""
            if not b or state["cut"]:
                break
            with self.lock:
                if down:
                    self.down_bytes += len(b)
                    state["down"] += len(b)
                    if (self.sever_after is not None and self.sever_left > 0
                            and state["down"] >= self.sever_after):
                        self.sever_left -= 1
                        self.severed += 1
                        state["cut"] = True
                else:
                    self.up_bytes += len(b)
            if state["cut"]:
                break
            try:
                dst.sendall(b)
            except OSError:
                break
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping = True
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self.socks)
        for x in socks:
            try:
                x.close()
            except OSError:
                pass
