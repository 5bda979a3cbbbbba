//! The workload in each pod: a small python3 HTTP server (small and large responses, large
//! POST) and a UDP echo, started with `ip netns exec` and ready once both sockets are bound.

use anyhow::Result;

use crate::netns::{Lab, ProcLog};

/// HTTP port inside pods (the service's targetPort).
pub const HTTP_PORT: u16 = 8080;
/// UDP echo port inside pods.
pub const UDP_PORT: u16 = 9000;
/// Size of `GET /large` (at least 200 kB, so it needs many full-size segments).
pub const LARGE_BYTES: usize = 256 * 1024;

/// The server. Every reply names the pod (`X-Pod` header, UDP prefix) so a test knows which
/// endpoint answered. Dual-stack sockets; quiet unless something fails.
pub const SCRIPT: &str = r#"
import http.server, socket, socketserver, sys, threading
name, http_port, udp_port, large = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
BIG = (b"0123456789abcdef" * (large // 16 + 1))[:large]

class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("X-Pod", name)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/large":
            self.reply(200, BIG)
        elif self.path in ("/", "/small"):
            self.reply(200, ("small from %s\n" % name).encode())
        else:
            self.reply(404, b"not found\n")
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        got = 0
        while got < n:
            chunk = self.rfile.read(min(65536, n - got))
            if not chunk:
                break
            got += len(chunk)
        self.reply(200, ("%s received %d bytes\n" % (name, got)).encode())

class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True
    allow_reuse_address = True
    # Python's default listen backlog is 5; a trace opens 8 connections at once and a full
    # accept queue drops handshakes (a healthy pod looked broken in CI). Real servers
    # listen with the kernel's somaxconn.
    request_queue_size = 128
    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

srv = S(("::", http_port), H)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", udp_port))
def echo():
    while True:
        data, peer = u.recvfrom(65535)
        u.sendto(name.encode() + b":" + data, peer)
threading.Thread(target=echo, daemon=True).start()
print("ready", flush=True)
srv.serve_forever()
"#;

/// The python interpreter to use (Debian's, else whatever `python3` is on PATH).
pub fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

/// Start the backend in pod namespace `pod_short`; returns its pid once it is listening.
pub fn start(lab: &mut Lab, pod_short: &str, pod_name: &str, log: &ProcLog) -> Result<u32> {
    let http = HTTP_PORT.to_string();
    let udp = UDP_PORT.to_string();
    let large = LARGE_BYTES.to_string();
    lab.spawn_ready(
        pod_short,
        &[python(), "-u", "-c", SCRIPT, pod_name, &http, &udp, &large],
        log,
    )
}
