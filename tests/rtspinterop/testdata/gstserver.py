"""gstserver.py: GStreamer's gst-rtsp-server as an RTSP realserver for
algd's interop tests.

Serves one shared live test pattern (videotestsrc, 320x240 at 25 fps,
VP8 in RTP, RFC 7741) on /test at the address and port given as
arguments (port 0 picks one), prints "listening PORT" on stdout once
bound and runs until killed. Run it with Debian's /usr/bin/python3:
the gi bindings come from python3-gi and gir1.2-gst-rtsp-server-1.0.
"""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true pattern=ball"
    " ! video/x-raw,width=320,height=240,framerate=25/1"
    " ! vp8enc deadline=1 keyframe-max-dist=25 ! rtpvp8pay name=pay0 pt=96 )"
)


def main():
    addr, port = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(addr)
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        sys.exit("gstserver: cannot bind %s:%s" % (addr, port))
    print("listening %d" % server.get_bound_port(), flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
