package conf

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strings"
)

// UserRoute sends the FTP users whose name matches User to Pool, on a
// listener with route_by "user".
type UserRoute struct {
	// User is a user name, or a glob of one (path.Match syntax: *, ?,
	// [a-z], \ to escape), matched against the whole name, case
	// sensitively. Required.
	User string `toml:"user"`
	// Pool names the [[pool]] of these users. Required, must exist.
	Pool string `toml:"pool"`
	// Line is where the route was read: its line in UserFile; 0 for a
	// route of the TOML table.
	Line int `toml:"-"`
}

// maxGreeting bounds the text of algd's own 220 (one reply line).
const maxGreeting = 200

// Routes returns the user routes of the listener in the order they are
// matched: the TOML table's, then UserFile's (as Validate read it).
func (f FTP) Routes() []UserRoute {
	return append(append([]UserRoute(nil), f.UserRoutes...), f.FileRoutes...)
}

// PoolNames returns every pool the listener may send a session to: Pool,
// then those of its user routes, each once.
func (f FTP) PoolNames() []string {
	out := []string{f.Pool}
	for _, r := range f.Routes() {
		dup := false
		for _, n := range out {
			dup = dup || n == r.Pool
		}
		if !dup {
			out = append(out, r.Pool)
		}
	}
	return out
}

// validateUserRouting checks route_by, greeting, user_route and user_file
// of ftp[i] (at), and reads user_file into FileRoutes.
func (c *Config) validateUserRouting(p *problems, f *FTP, at string) {
	f.FileRoutes = nil
	switch f.RouteBy {
	case "connection":
		if len(f.UserRoutes) > 0 {
			p.add(at+".user_route", "needs route_by = \"user\": with route_by %q the realserver is chosen before any USER", f.RouteBy)
		}
		if f.UserFile != "" {
			p.add(at+".user_file", "needs route_by = \"user\": with route_by %q the realserver is chosen before any USER", f.RouteBy)
		}
	case "user":
	default:
		p.add(at+".route_by", "unknown value %q: want \"connection\" or \"user\"", f.RouteBy)
	}
	if len(f.Greeting) > maxGreeting {
		p.add(at+".greeting", "%d bytes, at most %d", len(f.Greeting), maxGreeting)
	}
	if strings.ContainsFunc(f.Greeting, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		p.add(at+".greeting", "%q holds a control character (CR, LF, NUL...): it must be one reply line", f.Greeting)
	}
	for j, r := range f.UserRoutes {
		rat := fmt.Sprintf("%s.user_route[%d]", at, j)
		if msg := c.checkRoute(r); msg != "" {
			p.add(rat, "%s", msg)
		}
	}
	if f.UserFile == "" {
		return
	}
	routes, errs := c.readUserFile(f.UserFile)
	for _, e := range errs {
		p.add(at+".user_file", "%s", e)
	}
	if len(errs) == 0 {
		f.FileRoutes = routes
	}
}

// checkRoute says what is wrong with r; "" when nothing is.
func (c *Config) checkRoute(r UserRoute) string {
	switch {
	case r.User == "":
		return "user: missing: want a user name or a glob such as \"team-*\""
	case r.Pool == "":
		return "pool: missing: name the [[pool]] of these users"
	case c.Pool(r.Pool) == nil:
		return fmt.Sprintf("unknown pool %q%s", r.Pool, knownPools(c))
	}
	if _, err := path.Match(r.User, ""); err != nil {
		return fmt.Sprintf("user: bad glob %q: %v", r.User, err)
	}
	return ""
}

// readUserFile reads a user file: one "user pool" pair a line (user a name
// or glob), blank lines and lines starting with # ignored. Each problem is
// reported as "file:line: what".
func (c *Config) readUserFile(name string) ([]UserRoute, []string) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, []string{fmt.Sprintf("cannot read the user file: %v", err)}
	}
	defer fh.Close()
	var (
		routes []UserRoute
		errs   []string
	)
	sc := bufio.NewScanner(fh)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 {
			errs = append(errs, fmt.Sprintf("%s:%d: want \"user pool\", got %d fields", name, n, len(fields)))
			continue
		}
		r := UserRoute{User: fields[0], Pool: fields[1], Line: n}
		if msg := c.checkRoute(r); msg != "" {
			errs = append(errs, fmt.Sprintf("%s:%d: %s", name, n, msg))
			continue
		}
		routes = append(routes, r)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Sprintf("cannot read the user file: %v", err))
	}
	return routes, errs
}
