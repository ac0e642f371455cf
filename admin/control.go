package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// Control changes the running daemon: the admin listener's state-changing
// endpoints call it. internal/daemon implements it. A change lasts until
// the next reload, which puts the file's weights back and enables every
// realserver: nothing is written back to the file.
type Control interface {
	// SetWeight sets the weight of the realserver at addr in pool (0
	// drains it: it keeps its sessions and gets no new ones).
	SetWeight(pool string, addr netip.AddrPort, weight int) error
	// SetDisabled disables the realserver (no new session whatever its
	// health and weight) or enables it again.
	SetDisabled(pool string, addr netip.AddrPort, disabled bool) error
	// EndSession ends the live session(s) with id now, transfers in
	// flight or not.
	EndSession(id string) error
}

// ErrNotFound is wrapped by a Control error naming a pool, realserver or
// session that does not exist; the endpoint answers 404.
var ErrNotFound = errors.New("not found")

// Auth decides who may change state. Read-only endpoints are open to
// whoever reaches the listener.
type Auth struct {
	// TokenFile names the file holding the bearer token; "" means no
	// token: requests over TCP are refused (403).
	TokenFile string
}

// trustedKey marks a request that came over the control socket, whose
// file permissions stand for authentication.
type trustedKey struct{}

// TrustConn is an http.Server ConnContext for the control socket:
// requests over it need no token.
func TrustConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, trustedKey{}, true)
}

// check reports the HTTP status refusing r, or 0 when r may change state.
// The token file is read at every request (it can be rotated in place);
// tokens are compared as SHA-256 sums in constant time.
func (a Auth) check(r *http.Request) (int, string) {
	if trusted, _ := r.Context().Value(trustedKey{}).(bool); trusted {
		return 0, ""
	}
	if a.TokenFile == "" {
		return http.StatusForbidden, "state changes need [admin] token_file or control_socket"
	}
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || got == "" {
		return http.StatusUnauthorized, "missing bearer token"
	}
	want, err := ReadToken(a.TokenFile)
	if err != nil {
		return http.StatusForbidden, "token file unreadable"
	}
	g, w := sha256.Sum256([]byte(strings.TrimSpace(got))), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return http.StatusForbidden, "wrong token"
	}
	return 0, ""
}

// ReadToken reads a token file: its content without surrounding white
// space, which must not be empty.
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("admin token: %s is empty", path)
	}
	return t, nil
}

// controlRoutes adds the state-changing endpoints to mux:
//
//	POST /realservers/{pool}/{addr}/weight   form or query weight=N
//	POST /realservers/{pool}/{addr}/drain    weight 0
//	POST /realservers/{pool}/{addr}/disable
//	POST /realservers/{pool}/{addr}/enable
//	POST /sessions/{id}/end
//
// Each answers JSON {"ok":true} or {"error":"..."} with 400, 401, 403,
// 404 or 500.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /realservers/{pool}/{addr}/{action}", s.guard(s.realserverAction))
	mux.HandleFunc("POST /sessions/{id}/end", s.guard(func(r *http.Request) (int, error) {
		return 0, s.Control.EndSession(r.PathValue("id"))
	}))
}

// guard wraps a state change with the authentication, logs it and writes
// its result.
func (s *Server) guard(do func(r *http.Request) (int, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if code, why := s.Auth.check(r); code != 0 {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="algd"`)
			}
			s.logger().Warn("admin request refused", "path", r.URL.Path, "remote", r.RemoteAddr, "why", why)
			writeResult(w, code, errors.New(why))
			return
		}
		code, err := do(r)
		switch {
		case err == nil:
			code = http.StatusOK
			s.logger().Info("admin request applied", "path", r.URL.Path, "remote", r.RemoteAddr)
		case code != 0:
		case errors.Is(err, ErrNotFound):
			code = http.StatusNotFound
		default:
			code = http.StatusInternalServerError
		}
		writeResult(w, code, err)
	}
}

// realserverAction applies one action to one realserver.
func (s *Server) realserverAction(r *http.Request) (int, error) {
	pool := r.PathValue("pool")
	addr, err := netip.ParseAddrPort(r.PathValue("addr"))
	if err != nil {
		return http.StatusBadRequest, fmt.Errorf("realserver address: %w", err)
	}
	switch a := r.PathValue("action"); a {
	case "weight":
		w, err := strconv.Atoi(r.FormValue("weight"))
		if err != nil || w < 0 {
			return http.StatusBadRequest, fmt.Errorf("weight %q: want an integer from 0", r.FormValue("weight"))
		}
		return 0, s.Control.SetWeight(pool, addr, w)
	case "drain":
		return 0, s.Control.SetWeight(pool, addr, 0)
	case "disable", "enable":
		return 0, s.Control.SetDisabled(pool, addr, a == "disable")
	default:
		return http.StatusNotFound, fmt.Errorf("no action %q: want weight, drain, disable or enable", a)
	}
}

// Result is the JSON answer of a state-changing endpoint.
type Result struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

func writeResult(w http.ResponseWriter, code int, err error) {
	res := Result{OK: err == nil}
	if err != nil {
		res.Error = err.Error()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(res)
}
