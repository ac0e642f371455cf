package ipvs

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/algd/algd/conf"
)

// Reconciler makes the kernel's IPVS fwmark services in its range and its
// nftables table match a desired State. It is not safe for concurrent use:
// one goroutine (Runner.Run) owns it.
type Reconciler struct {
	// IPVS is the kernel's service table. Required.
	IPVS IPVS
	// Firewall is the nftables side. Required.
	Firewall Firewall
	// Logger receives one line per change; nil means slog.Default().
	Logger *slog.Logger
}

// Changes counts what one pass changed in the kernel.
type Changes struct {
	ServicesAdded, ServicesUpdated, ServicesDeleted int
	DestsAdded, DestsUpdated, DestsDeleted          int
	// TableReplaced is true when the nftables table was written.
	TableReplaced bool
	// TableDeleted is true when the table was removed (no marks wanted).
	TableDeleted bool
}

// Zero reports whether the pass changed nothing.
func (c Changes) Zero() bool { return c == Changes{} }

// orderSensitive are the schedulers whose choice depends on the order of
// the destination list (they build a table by walking it).
var orderSensitive = []string{"sh", "dh", "mh"}

// Apply brings the kernel to want in three steps, so that no packet is
// marked for a service that is not complete:
//  1. create and update the wanted services and their destinations (a new
//     service whose destinations cannot all be added is deleted again);
//  2. replace the nftables table in one transaction if it differs;
//  3. delete the services in the owned range that nothing wants.
//
// A failure in step 1 skips steps 2 and 3 (the old marking stays) and a
// failure in step 2 skips step 3; the next Apply resumes. Services outside
// want.Range and tables other than want.Table are never touched.
func (r *Reconciler) Apply(want State) (Changes, error) {
	var ch Changes
	cur, err := r.IPVS.Services()
	if err != nil {
		return ch, fmt.Errorf("ipvs: read services: %w", err)
	}
	owned := State{Range: want.Range}
	for _, s := range cur {
		if want.Range.Contains(s.Mark) {
			owned.Services = append(owned.Services, s)
		}
	}

	var errs []error
	for i := range want.Services {
		w := &want.Services[i]
		if !want.Range.Contains(w.Mark) {
			errs = append(errs, fmt.Errorf("ipvs: group %q: fwmark %d is outside the owned range %s", w.Group, w.Mark, want.Range))
			continue
		}
		if err := r.service(&ch, w, owned.service(w.Mark, w.IPv6)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return ch, errors.Join(errs...)
	}

	marks, exists, ok, err := r.Firewall.Marks(want.Table)
	if err != nil {
		return ch, fmt.Errorf("nftables: read table %s: %w", want.Table, err)
	}
	switch {
	case len(want.Marks) == 0 && exists:
		if err := r.Firewall.Delete(want.Table); err != nil {
			return ch, fmt.Errorf("nftables: delete table %s: %w", want.Table, err)
		}
		ch.TableDeleted = true
		r.logger().Info("nftables table deleted", "table", want.Table)
	case len(want.Marks) > 0 && (!exists || !ok || !sameMarks(marks, want.Marks)):
		if err := r.Firewall.Replace(want.Table, want.Marks); err != nil {
			return ch, fmt.Errorf("nftables: replace table %s: %w", want.Table, err)
		}
		ch.TableReplaced = true
		r.logger().Info("nftables table written", "table", want.Table, "rules", len(want.Marks), "existed", exists)
	}

	for _, s := range owned.Services {
		if want.service(s.Mark, s.IPv6) != nil {
			continue
		}
		if err := r.IPVS.DelService(s); err != nil {
			errs = append(errs, fmt.Errorf("ipvs: delete service fwmark %d: %w", s.Mark, err))
			continue
		}
		ch.ServicesDeleted++
		r.logger().Info("ipvs service deleted", "fwmark", s.Mark, "ipv6", s.IPv6)
	}
	return ch, errors.Join(errs...)
}

// service brings one service to w; have is the kernel's, or nil.
func (r *Reconciler) service(ch *Changes, w, have *Service) error {
	log := r.logger().With("group", w.Group, "fwmark", w.Mark)
	if have == nil {
		if err := r.IPVS.AddService(*w); err != nil {
			return fmt.Errorf("ipvs: group %q: add service fwmark %d: %w", w.Group, w.Mark, err)
		}
		for _, d := range w.Dests {
			if err := r.IPVS.AddDest(*w, d); err != nil {
				err = fmt.Errorf("ipvs: group %q: add destination %s: %w", w.Group, d.Addr, err)
				if derr := r.IPVS.DelService(*w); derr != nil {
					err = errors.Join(err, fmt.Errorf("ipvs: group %q: undo service fwmark %d: %w", w.Group, w.Mark, derr))
				}
				return err
			}
		}
		ch.ServicesAdded++
		ch.DestsAdded += len(w.Dests)
		log.Info("ipvs service added", "scheduler", w.Scheduler, "destinations", len(w.Dests))
		return nil
	}
	if !w.sameAttrs(have) {
		if err := r.IPVS.UpdateService(*w); err != nil {
			return fmt.Errorf("ipvs: group %q: update service fwmark %d: %w", w.Group, w.Mark, err)
		}
		ch.ServicesUpdated++
		log.Info("ipvs service updated", "scheduler", w.Scheduler, "flags", uint32(w.Flags), "timeout", w.Timeout)
	}
	return r.dests(ch, log, w, have)
}

// dests brings the destinations of have to those of w. For schedulers that
// depend on the list order, the kernel's list (reverse insertion) must end
// up as w.Dests reversed: destinations are added in configuration order,
// and when the kept ones are not already a prefix of it, all are removed
// and added again.
func (r *Reconciler) dests(ch *Changes, log *slog.Logger, w, have *Service) error {
	var kept []Dest // have's wanted destinations, kernel order
	for _, d := range have.Dests {
		if !slices.ContainsFunc(w.Dests, func(x Dest) bool { return x.Addr == d.Addr }) {
			if err := r.IPVS.DelDest(*w, d); err != nil {
				return fmt.Errorf("ipvs: group %q: delete destination %s: %w", w.Group, d.Addr, err)
			}
			ch.DestsDeleted++
			log.Info("ipvs destination deleted", "realserver", d.Addr)
			continue
		}
		kept = append(kept, d)
	}
	if slices.Contains(orderSensitive, w.Scheduler) && !keptIsPrefix(kept, w.Dests) {
		for _, d := range kept {
			if err := r.IPVS.DelDest(*w, d); err != nil {
				return fmt.Errorf("ipvs: group %q: delete destination %s for reordering: %w", w.Group, d.Addr, err)
			}
			ch.DestsDeleted++
		}
		log.Info("ipvs destinations re-added in configuration order", "scheduler", w.Scheduler)
		kept = nil
	}
	for _, d := range w.Dests {
		i := slices.IndexFunc(kept, func(x Dest) bool { return x.Addr == d.Addr })
		switch {
		case i < 0:
			if err := r.IPVS.AddDest(*w, d); err != nil {
				return fmt.Errorf("ipvs: group %q: add destination %s: %w", w.Group, d.Addr, err)
			}
			ch.DestsAdded++
			log.Info("ipvs destination added", "realserver", d.Addr, "weight", d.Weight)
		case !kept[i].same(d):
			if err := r.IPVS.UpdateDest(*w, d); err != nil {
				return fmt.Errorf("ipvs: group %q: update destination %s: %w", w.Group, d.Addr, err)
			}
			ch.DestsUpdated++
			log.Info("ipvs destination updated", "realserver", d.Addr, "weight", d.Weight, "was", kept[i].Weight)
		}
	}
	return nil
}

// keptIsPrefix reports whether kept, in kernel order, reversed, is the
// start of want (configuration order).
func keptIsPrefix(kept, want []Dest) bool {
	if len(kept) > len(want) {
		return false
	}
	for i, d := range kept {
		if want[len(kept)-1-i].Addr != d.Addr {
			return false
		}
	}
	return true
}

func (r *Reconciler) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Remove deletes everything algd owns: the table and every fwmark service
// in rng (cleanup_on_exit).
func (r *Reconciler) Remove(table string, rng conf.MarkRange) (Changes, error) {
	return r.Apply(State{Table: table, Range: rng})
}
