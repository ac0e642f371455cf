package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"

	"github.com/algd/algd/admin"
	"github.com/algd/algd/conf"
	"github.com/algd/algd/pool"
)

// The Daemon is the admin listener's admin.Control: runtime changes of
// realservers and sessions. They last until the next reload, which puts
// the file's weights back and enables every realserver of a kept pool
// (swapPools); nothing is written to the file.
var _ admin.Control = (*Daemon)(nil)

// realserver finds the member addr of pool name.
func (d *Daemon) realserver(name string, addr netip.AddrPort) (*pool.Pool, *pool.Realserver, error) {
	d.mu.Lock()
	pr := d.pools[name]
	d.mu.Unlock()
	if pr == nil {
		return nil, nil, fmt.Errorf("pool %q: %w", name, admin.ErrNotFound)
	}
	r := pr.p.Realserver(addr)
	if r == nil {
		return nil, nil, fmt.Errorf("pool %q: realserver %s: %w", name, addr, admin.ErrNotFound)
	}
	return pr.p, r, nil
}

// SetWeight sets a realserver's weight until the next reload (0 drains it).
func (d *Daemon) SetWeight(name string, addr netip.AddrPort, weight int) error {
	p, r, err := d.realserver(name, addr)
	if err != nil {
		return err
	}
	return p.SetWeight(r, weight)
}

// SetDisabled disables or enables a realserver until the next reload.
func (d *Daemon) SetDisabled(name string, addr netip.AddrPort, disabled bool) error {
	p, r, err := d.realserver(name, addr)
	if err != nil {
		return err
	}
	return p.SetDisabled(r, disabled)
}

// EndSession ends the live session(s) with id now.
func (d *Daemon) EndSession(id string) error {
	if d.registry.End(id) == 0 {
		return fmt.Errorf("session %q: %w", id, admin.ErrNotFound)
	}
	d.log.Info("session ended by the administrator", "session", id)
	return nil
}

// NewLogger builds the logger [log] asks for. Its level is the returned
// LevelVar: give it as Options.Level and a reload applies [log] level.
// The format is read at start only.
func NewLogger(c conf.Log, w io.Writer) (*slog.Logger, *slog.LevelVar) {
	lv := new(slog.LevelVar)
	lv.Set(logLevel(c.Level))
	opts := &slog.HandlerOptions{Level: lv}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts)), lv
	}
	return slog.New(slog.NewTextHandler(w, opts)), lv
}

// logLevel parses [log] level; a validated configuration has no other.
func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

// applyLevel sets the log level of a reloaded configuration.
func (d *Daemon) applyLevel(c conf.Log) {
	if d.opts.Level == nil {
		return
	}
	if l := logLevel(c.Level); d.opts.Level.Level() != l {
		d.opts.Level.Set(l)
		d.log.Info("log level changed", "level", l.String())
	}
}
