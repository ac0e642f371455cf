package ipvs

import (
	"fmt"
	"os"
	"slices"
	"sync"
)

// FakeIPVS is an in-memory IPVS for tests. It keeps destinations in the
// kernel's order (a new one goes to the head of the list), refuses what
// the kernel refuses (a duplicate service or destination, an unknown one),
// and records every change as the equivalent ipvsadm command line.
type FakeIPVS struct {
	// Fail, when set, is asked before every change with the ipvsadm
	// command line; a non-nil error fails the change (nothing is applied).
	Fail func(call string) error

	mu    sync.Mutex
	svcs  []Service
	calls []string
}

// Calls returns the ipvsadm command lines of the changes applied so far
// and forgets them.
func (f *FakeIPVS) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// Services returns a copy of the table; the Hashed flag is set, as the
// kernel reports it.
func (f *FakeIPVS) Services() ([]Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Service, len(f.svcs))
	for i, s := range f.svcs {
		s.Dests = slices.Clone(s.Dests)
		s.Flags |= Hashed
		s.Group = ""
		out[i] = s
	}
	return out, nil
}

// AddService implements IPVS.
func (f *FakeIPVS) AddService(s Service) error {
	return f.change("ipvsadm -A "+ServiceArgs(s), func() error {
		if f.find(s) >= 0 {
			return os.ErrExist
		}
		s.Dests, s.Group = nil, ""
		f.svcs = append(f.svcs, s)
		return nil
	})
}

// UpdateService implements IPVS.
func (f *FakeIPVS) UpdateService(s Service) error {
	return f.change("ipvsadm -E "+ServiceArgs(s), func() error {
		i := f.find(s)
		if i < 0 {
			return os.ErrNotExist
		}
		f.svcs[i].Scheduler, f.svcs[i].Flags, f.svcs[i].Timeout = s.Scheduler, s.Flags, s.Timeout
		return nil
	})
}

// DelService implements IPVS.
func (f *FakeIPVS) DelService(s Service) error {
	return f.change("ipvsadm -D "+serviceID(s), func() error {
		i := f.find(s)
		if i < 0 {
			return os.ErrNotExist
		}
		f.svcs = slices.Delete(f.svcs, i, i+1)
		return nil
	})
}

// AddDest implements IPVS.
func (f *FakeIPVS) AddDest(s Service, d Dest) error {
	return f.change("ipvsadm -a "+DestArgs(s, d), func() error {
		i := f.find(s)
		if i < 0 {
			return os.ErrNotExist
		}
		if f.findDest(i, d) >= 0 {
			return os.ErrExist
		}
		d.Active, d.Inactive = 0, 0
		f.svcs[i].Dests = slices.Insert(f.svcs[i].Dests, 0, d) // list_add_rcu: at the head
		return nil
	})
}

// UpdateDest implements IPVS.
func (f *FakeIPVS) UpdateDest(s Service, d Dest) error {
	return f.change("ipvsadm -e "+DestArgs(s, d), func() error {
		i := f.find(s)
		if i < 0 {
			return os.ErrNotExist
		}
		j := f.findDest(i, d)
		if j < 0 {
			return os.ErrNotExist
		}
		f.svcs[i].Dests[j].Weight, f.svcs[i].Dests[j].Forward = d.Weight, d.Forward
		return nil
	})
}

// DelDest implements IPVS.
func (f *FakeIPVS) DelDest(s Service, d Dest) error {
	return f.change("ipvsadm -d "+destID(s, d), func() error {
		i := f.find(s)
		if i < 0 {
			return os.ErrNotExist
		}
		j := f.findDest(i, d)
		if j < 0 {
			return os.ErrNotExist
		}
		f.svcs[i].Dests = slices.Delete(f.svcs[i].Dests, j, j+1)
		return nil
	})
}

// change runs apply under the lock unless Fail refuses call, and records
// call when it was applied.
func (f *FakeIPVS) change(call string, apply func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Fail != nil {
		if err := f.Fail(call); err != nil {
			return fmt.Errorf("%s: %w", call, err)
		}
	}
	if err := apply(); err != nil {
		return fmt.Errorf("%s: %w", call, err)
	}
	f.calls = append(f.calls, call)
	return nil
}

func (f *FakeIPVS) find(s Service) int {
	return slices.IndexFunc(f.svcs, func(x Service) bool { return x.Mark == s.Mark && x.IPv6 == s.IPv6 })
}

func (f *FakeIPVS) findDest(i int, d Dest) int {
	return slices.IndexFunc(f.svcs[i].Dests, func(x Dest) bool { return x.Addr == d.Addr })
}

// FakeFirewall is an in-memory Firewall for tests; it records changes as
// nft command lines.
type FakeFirewall struct {
	// Fail, when set, is asked before every change with the nft command
	// line; a non-nil error fails the change.
	Fail func(call string) error

	mu      sync.Mutex
	tables  map[string][]Mark
	tainted map[string]bool
	calls   []string
}

// Calls returns the nft command lines of the changes applied so far and
// forgets them.
func (f *FakeFirewall) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// Taint simulates an outside edit of table (a rule added or changed by
// hand): Marks reports it not ok until it is replaced.
func (f *FakeFirewall) Taint(table string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tainted == nil {
		f.tainted = map[string]bool{}
	}
	f.tainted[table] = true
}

// Marks implements Firewall.
func (f *FakeFirewall) Marks(table string) ([]Mark, bool, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.tables[table]
	return slices.Clone(m), ok, !f.tainted[table], nil
}

// Replace implements Firewall.
func (f *FakeFirewall) Replace(table string, marks []Mark) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := fmt.Sprintf("nft -f (table inet %s, %d rules)", table, len(marks))
	if f.Fail != nil {
		if err := f.Fail(call); err != nil {
			return fmt.Errorf("%s: %w", call, err)
		}
	}
	if f.tables == nil {
		f.tables = map[string][]Mark{}
	}
	f.tables[table] = slices.Clone(marks)
	delete(f.tainted, table)
	f.calls = append(f.calls, call)
	return nil
}

// Delete implements Firewall.
func (f *FakeFirewall) Delete(table string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := "nft delete table inet " + table
	if f.Fail != nil {
		if err := f.Fail(call); err != nil {
			return fmt.Errorf("%s: %w", call, err)
		}
	}
	if _, ok := f.tables[table]; !ok {
		return fmt.Errorf("%s: %w", call, os.ErrNotExist)
	}
	delete(f.tables, table)
	delete(f.tainted, table)
	f.calls = append(f.calls, call)
	return nil
}

// Interface guards.
var (
	_ IPVS     = (*FakeIPVS)(nil)
	_ Firewall = (*FakeFirewall)(nil)
)
