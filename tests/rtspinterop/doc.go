//go:build interop

// Package rtspinterop runs algd's RTSP gateway against peers nobody here
// wrote: ffmpeg publishing a generated test pattern (directly to a
// gortsplib realserver, and through algd with RECORD), and ffmpeg and
// ffprobe reading through algd with -rtsp_transport udp and tcp, frame
// counts compared with the same client reading directly in the same run.
// A second independent peer: GStreamer's gst-rtsp-server (python3-gi,
// testdata/gstserver.py) as the realserver, read by ffmpeg and by
// GStreamer's rtspsrc, UDP forced and TCP. Debian's ffmpeg and GStreamer
// packages come from tests/peers/fetch.sh; without them the tests fail.
package rtspinterop
