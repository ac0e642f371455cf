package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/algd/algd/alg"
)

// Server is the admin HTTP listener.
type Server struct {
	// Source is what the pages show; required.
	Source Source
	// Collectors are further metrics for /metrics: the listeners' (each
	// protocol exports its own); the protocol-neutral ones (realservers,
	// reloads, drain, build info), the Go runtime's (go_*) and the
	// process's (process_*, and the deprecated algd_process_*) are always
	// there.
	Collectors []prometheus.Collector
	// Refresh is the HTML status page's refresh interval; 0 means 2s.
	Refresh time.Duration
	// MaxLive is how many live sessions the HTML page lists (the oldest;
	// it says how many it left out); 0 means 100. JSON lists them all.
	MaxLive int
	// Logger receives serve errors; nil means slog.Default().
	Logger *slog.Logger
	// Control, when set, enables the state-changing endpoints
	// (control.go), guarded by Auth.
	Control Control
	// Auth says who may use them.
	Auth Auth
}

// Handler returns the admin endpoints: /metrics, /healthz, /status (JSON
// for programs, HTML for browsers, chosen by Accept or ?format=json|html),
// /status.json, and / redirecting to /status.
func (s *Server) Handler() (http.Handler, error) {
	reg := prometheus.NewRegistry()
	all := append([]prometheus.Collector{
		newCollector(s.Source),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// The old algd_process_* names, for one more release (see
		// docs/operations.md): dashboards move to process_*.
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{Namespace: alg.Namespace}),
	}, s.Collectors...)
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("admin: register metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slogAdapter{s.logger()}}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /status", s.status)
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) { s.writeJSON(w) })
	if s.Control != nil {
		s.controlRoutes(mux)
	}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/status", http.StatusFound)
	})
	return mux, nil
}

// Serve serves the admin endpoints on ln until ctx is done, then closes
// it, letting requests in progress finish for a second.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, nil)
}

// ServeControl is Serve for the control socket: its requests need no
// token (the socket's file permissions stand for authentication).
func (s *Server) ServeControl(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, TrustConn)
}

func (s *Server) serve(ctx context.Context, ln net.Listener, connCtx func(context.Context, net.Conn) context.Context) error {
	h, err := s.Handler()
	if err != nil {
		ln.Close()
		return err
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
		ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelDebug),
		ConnContext:       connCtx,
	}
	stop := context.AfterFunc(ctx, func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	})
	defer stop()
	err = hs.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("admin: %w", err)
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// healthz answers 200 "ok" while algd serves, 503 "draining" after
// SIGTERM. Pools without a realserver to take sessions are named in the
// body of a 200: another director would not have one either.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	st := s.Source.Status()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if st.Draining {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "draining")
		return
	}
	var empty []string
	for _, p := range st.Pools {
		ok := false
		for _, m := range p.Members {
			ok = ok || m.State() == "up"
		}
		if !ok {
			empty = append(empty, p.Name)
		}
	}
	if len(empty) > 0 {
		fmt.Fprintf(w, "ok, but no realserver available in pool %s\n", strings.Join(empty, ", "))
		return
	}
	fmt.Fprintln(w, "ok")
}

// status answers JSON or HTML, as the client prefers.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	switch f := r.URL.Query().Get("format"); {
	case f == "json":
		s.writeJSON(w)
	case f == "html", strings.Contains(r.Header.Get("Accept"), "text/html"):
		s.writeHTML(w)
	default:
		s.writeJSON(w)
	}
}

func (s *Server) writeJSON(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s.Source.Status())
}

func (s *Server) writeHTML(w http.ResponseWriter) {
	refresh := s.Refresh
	if refresh <= 0 {
		refresh = 2 * time.Second
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	maxLive := s.MaxLive
	if maxLive <= 0 {
		maxLive = defaultMaxLive
	}
	if err := pageTemplate.Execute(w, newPage(s.Source.Status(), int(max(refresh/time.Second, 1)), maxLive)); err != nil {
		s.logger().Debug("status page", "err", err)
	}
}

// slogAdapter lets promhttp log through slog.
type slogAdapter struct{ l *slog.Logger }

// Println logs at Warn.
func (a slogAdapter) Println(v ...any) { a.l.Warn("metrics: " + fmt.Sprint(v...)) }
