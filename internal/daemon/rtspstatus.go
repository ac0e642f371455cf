package daemon

import (
	"slices"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/alg"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/rtsp"
)

// rtspRun is one started [[rtsp]] listener: its configuration and the
// handler serving all its addresses.
type rtspRun struct {
	cfg conf.RTSP
	h   *rtsp.Handler
}

// rtspStatus is what /status and the algd_rtsp_* metrics show of the RTSP
// listeners, read from their handlers' statistics; d.mu must be held.
func (d *Daemon) rtspStatus() []admin.RTSPListener {
	out := make([]admin.RTSPListener, 0, len(d.rtsp))
	for _, r := range d.rtsp {
		s := &r.h.Stats
		l := admin.RTSPListener{
			Name: r.cfg.Name, Pool: r.cfg.Pool, Addrs: slices.Clone(r.cfg.ListenAddrs),
			Conns: s.Conns.Load(), Active: s.Active.Load(), Refused: s.Refused.Load(),
			MediaSessions: r.h.MediaSessions(), SessionsEnded: s.SessionsEnded.Load(),
			Streams: s.Streams.Load(), Interleaved: s.Interleaved.Load(),
			Unsupported: s.Unsupported.Load(), Exhausted: s.Exhausted.Load(), PerClient: s.PerClient.Load(),
			UpPackets: s.Media.UpPackets.Load(), UpBytes: s.Media.UpBytes.Load(),
			DownPackets: s.Media.DownPackets.Load(), DownBytes: s.Media.DownBytes.Load(),
			Dropped: s.Media.Dropped.Load(), SourcesRefused: s.SourcesRefused.Load(),
			DroppedBy: make(map[string]int64, alg.NumDropReasons),
		}
		for r := range alg.NumDropReasons {
			l.DroppedBy[r.String()] = s.Media.DroppedBy[r].Load()
		}
		l.MediaPairs.InUse, l.MediaPairs.Size, l.MediaPairs.Exhaustions = r.h.MediaPorts.Usage()
		l.BackendPairs.InUse, l.BackendPairs.Size, l.BackendPairs.Exhaustions = r.h.BackendPorts.Usage()
		out = append(out, l)
	}
	return out
}
