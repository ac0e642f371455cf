"""rtspmute.py: a minimal RTSP player that never sends a datagram.

Usage: rtspmute.py URL CLIENT_PORT SECONDS

Describes URL, sets up its first medium over UDP with client_port
CLIENT_PORT-(CLIENT_PORT+1), plays it and counts, for SECONDS, the RTP
packets that arrive on CLIENT_PORT whose payload is one of
tests/rtspsource's (it starts with b"algd-rtsp-test"), then tears the
session down and prints "got N other M". Unlike real players it sends
no punch packet and no receiver report: the realserver's media is the
first datagram of the stream.
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


def main():
    url, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
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
    got = other = 0
    end = time.monotonic() + secs
    while True:
        left = end - time.monotonic()
        if left <= 0:
            break
        rtp.settimeout(left)
        try:
            pkt = rtp.recv(2048)
        except socket.timeout:
            break
        if pkt[12:26] == b"algd-rtsp-test":
            got += 1
        else:
            other += 1
    request(conn, "TEARDOWN", url, 4, "Session: %s\r\n" % session)
    print("got %d other %d" % (got, other))


if __name__ == "__main__":
    main()
