//go:build interop

// Package rtspinterop runs algd's RTSP gateway against peers nobody here
// wrote: ffmpeg publishing a generated test pattern (directly to a
// gortsplib realserver, and through algd with RECORD), and ffmpeg and
// ffprobe reading through algd with -rtsp_transport udp and tcp, frame
// counts compared with the same client reading directly in the same run.
// Debian's ffmpeg comes from tests/peers/fetch.sh; without it the tests
// fail.
package rtspinterop
