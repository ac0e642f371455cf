"""rtspraw.py: a minimal RTSP player for tests/netns.

Usage: rtspraw.py mute URL CLIENT_PORT SECONDS
       rtspraw.py rr URL CLIENT_PORT SECONDS QUIET

Describes URL, sets up its first medium over UDP with client_port
CLIENT_PORT-(CLIENT_PORT+1) and plays it, counting the RTP packets that
arrive on CLIENT_PORT whose payload is one of tests/rtspsource's (it
starts with b"algd-rtsp-test").

mute: for SECONDS, sending no datagram at all (no punch packet, no
receiver report, unlike real players: the realserver's media is the
first datagram of the stream), then tears the session down and prints
"got N other M".

rr: closes the control connection right after PLAY (no TEARDOWN), sends
an RTCP receiver report to the server's RTCP port every 200 ms for
SECONDS, then sends nothing and keeps counting for QUIET seconds; prints
"got N other M late L", L the packets of the last 2 s of the quiet time.
"""

import socket
import sys
import time
from urllib.parse import urlsplit


def request(conn, method, url, cseq, headers=""):
    conn.sendall(("%s %s RTSP/1.0\r\nCSeq: %d\r\n%s\r\n" % (method, url, cseq, headers)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            sys.exit("rtspmute: connection closed during %s" % method)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    if " 200 " not in lines[0]:
        sys.exit("rtspmute: %s answered %s" % (method, lines[0]))
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    want = int(hdrs.get("content-length", "0"))
    while len(body) < want:
        body += conn.recv(4096)
    return hdrs, body.decode(errors="replace")


def count(sock, secs, send=None):
    """Counts the source's RTP packets on sock for secs; calls send
    every 200 ms when given. Returns (got, other, got in the last 2 s)."""
    got = other = late = 0
    start = time.monotonic()
    end = start + secs
    next_send = start
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if send and now >= next_send:
            send()
            next_send = now + 0.2
        sock.settimeout(min(end, next_send if send else end) - now + 0.001)
        try:
            pkt = sock.recv(2048)
        except socket.timeout:
            continue
        if pkt[12:26] == b"algd-rtsp-test":
            got += 1
            if time.monotonic() > end - 2:
                late += 1
        else:
            other += 1
    return got, other, late


def main():
    mode, url, port, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    u = urlsplit(url)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("", port))
    rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtcp.bind(("", port + 1))
    conn = socket.create_connection((u.hostname, u.port or 554), timeout=10)
    hdrs, sdp = request(conn, "DESCRIBE", url, 1, "Accept: application/sdp\r\n")
    control = ""
    for line in sdp.splitlines():
        if line.startswith("a=control:") and line != "a=control:*":
            control = line[len("a=control:"):]
            break
    base = hdrs.get("content-base", url + "/")
    track = control if control.startswith("rtsp://") else base.rstrip("/") + "/" + control
    hdrs, _ = request(conn, "SETUP", track, 2,
                      "Transport: RTP/AVP;unicast;client_port=%d-%d\r\n" % (port, port + 1))
    session = hdrs["session"].split(";")[0]
    request(conn, "PLAY", url, 3, "Session: %s\r\n" % session)
    if mode == "mute":
        got, other, _ = count(rtp, secs)
        request(conn, "TEARDOWN", url, 4, "Session: %s\r\n" % session)
        print("got %d other %d" % (got, other))
        return
    conn.close()
    server_port = int(hdrs["transport"].split("server_port=")[1].split("-")[0].split(";")[0])
    rr = b"\x80\xc9\x00\x01" + b"\x00\x00\x12\x34"  # RTCP receiver report, no blocks
    got, other, _ = count(rtp, secs, lambda: rtcp.sendto(rr, (u.hostname, server_port + 1)))
    got2, other2, late = count(rtp, float(sys.argv[5]))
    print("got %d other %d late %d" % (got + got2, other + other2, late))


if __name__ == "__main__":
    main()
