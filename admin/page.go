package admin

import (
	"cmp"
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/algd/algd/alg"
)

// page is the data of the HTML status page.
type page struct {
	Status
	// Refresh is the reload interval in seconds.
	Refresh int
	// Shown are the live sessions the table lists (the oldest), Hidden
	// how many more there are.
	Shown  []alg.SessionInfo
	Hidden int
	// Charts draw the History.
	Charts []chartView
}

// defaultMaxLive is how many live sessions the page lists when
// Server.MaxLive is 0.
const defaultMaxLive = 100

// newPage is the page of st, listing at most maxLive sessions.
func newPage(st Status, refresh, maxLive int) page {
	p := page{Status: st, Refresh: refresh, Shown: st.Live, Charts: charts(st.History)}
	if len(p.Shown) > maxLive {
		p.Shown, p.Hidden = p.Shown[:maxLive], len(p.Shown)-maxLive
	}
	return p
}

// funcs are the helpers the templates use.
var funcs = template.FuncMap{
	"bytes": humanBytes,
	"since": func(now, t time.Time) string { return now.Sub(t).Round(time.Second).String() },
	"pct": func(a, b int) string {
		if b == 0 {
			return "0%"
		}
		return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
	},
	"ms":     func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) },
	"ago":    ago,
	"others": others,
	"proto":  sessionProto,
}

// commonCounters are the counters every protocol has, shown in columns of
// their own.
var commonCounters = []string{"active", "sessions", "refused", "bytes_down", "bytes_up"}

// counter is one named count.
type counter struct {
	Name  string
	Value int64
}

// others lists a listener's counters above zero besides the common ones,
// by name.
func others(c map[string]int64) []counter {
	var out []counter
	for _, k := range slices.Sorted(maps.Keys(c)) {
		if c[k] != 0 && !slices.Contains(commonCounters, k) {
			out = append(out, counter{k, c[k]})
		}
	}
	return out
}

// sessionProto names a session's protocol for people: FTP, FTPS, RTSP.
func sessionProto(s alg.SessionInfo) string {
	p := strings.ToUpper(cmp.Or(s.Proto, "ftp"))
	if s.TLS {
		p += "S"
	}
	return p
}

// ago says how long before now t was, in a short human form: "45s",
// "12m", "3h4m", "2d5h".
func ago(now, t time.Time) string {
	d := max(now.Sub(t), 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%02dh", int(d.Hours())/24, int(d.Hours())%24)
}

// humanBytes formats n with a binary unit.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// pageTemplate is the status page: plain HTML that reloads itself, no
// script, so it works in any browser and in a text one.
var pageTemplate = template.Must(template.New("status").Funcs(funcs).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>algd status</title>
<style>
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.up { color: #070; } .down { color: #b00; font-weight: bold; } .drained { color: #a60; } .disabled { color: #a60; font-style: italic; }
.note { color: #666; font-size: 0.9em; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; margin-bottom: 1em; }
.charts figure { margin: 0; }
.charts figcaption { font-weight: bold; font-size: 0.9em; }
svg.chart { font: 11px sans-serif; }
svg.chart .plot { fill: #fafafa; stroke: #ccc; }
svg.chart .line { fill: none; stroke-width: 1.5; }
svg.chart .line.s0 { stroke: #1565c0; } svg.chart .line.s1 { stroke: #e65100; }
svg.chart .legend.s0 { fill: #1565c0; } svg.chart .legend.s1 { fill: #e65100; }
svg.chart .scale, svg.chart .axis, svg.chart .empty { fill: #666; }
</style>
</head>
<body>
<h1>algd {{.Version}}</h1>
<p class="note">up {{since .Time .Started}} · {{.Sessions}} of {{.MaxSessions}} sessions ·
reloads {{.Reloads.OK}} ok, {{.Reloads.Failed}} failed{{if .Reloads.LastError}} (last: {{.Reloads.LastError}}){{end}}
{{if .Draining}}· <strong class="down">draining</strong>{{end}}
· refreshed every {{.Refresh}} s, at {{.Time.Format "15:04:05"}}</p>
{{if not .Local.LastAt.IsZero}}<p class="local"><strong class="down">algd ran out of a local resource</strong>
({{range $k, $v := .Local.Errors}}{{$k}} {{$v}}× {{end}}); last {{since .Time .Local.LastAt}} ago:
{{.Local.LastKind}} on {{.Local.LastOp}}: {{.Local.Last}}. <span class="note">Not a realserver failure: raise the descriptor limit (ulimit -n, LimitNOFILE) or lower max_sessions.</span></p>
{{end}}
<h2>Last minutes</h2>
<div class="charts">
{{range .Charts}}<figure><figcaption>{{.Title}}</figcaption>{{.SVG}}</figure>
{{end}}</div>
<p class="note">Since start: {{bytes .Traffic.Down}} down, {{bytes .Traffic.Up}} up.</p>

<h2>Pools</h2>
{{range .Pools}}
<h3 id="pool-{{.Name}}">{{.Name}} <span class="note">({{.Scheduler}})</span></h3>
<table class="realservers">
<tr><th>realserver</th><th>state</th><th>last change</th><th>weight</th><th>active</th><th>total</th><th>down</th><th>up</th><th>last check</th><th>check failures</th><th>error</th><th>session failures</th></tr>
{{range .Members}}<tr class="realserver">
<td>{{.Address}}</td><td class="{{.State}}">{{.State}}</td>
<td class="since">{{if .LastChange.IsZero}}<span class="note">none since start, {{ago $.Time $.Started}} ago</span>{{else}}{{ago $.Time .LastChange}} ago{{end}}</td>
<td class="num">{{.Weight}}</td>
<td class="num">{{.Active}}</td><td class="num">{{.Total}}</td>
<td class="num">{{bytes .BytesDown}}</td><td class="num">{{bytes .BytesUp}}</td>
<td>{{if .LastCheck.IsZero}}none yet{{else}}{{ms .CheckLatency}}, {{ago $.Time .LastCheck}} ago{{end}}</td>
<td class="num">{{.CheckFailures}}</td><td>{{.CheckError}}</td>
<td class="num">{{.SessionFailures}}{{if .Suspect}} <span class="note">(suspect)</span>{{end}}</td>
</tr>
{{end}}</table>
{{end}}

<h2>Listeners</h2>
<table class="listeners">
<tr><th>listener</th><th>addresses</th><th>pool</th><th>sessions</th><th>total</th><th>refused</th><th>down</th><th>up</th><th>port ranges</th><th>other counters</th></tr>
{{range .Listeners}}<tr class="listener">
<td>{{.Name}} <span class="note">({{.Proto}}{{if .Proxy}}, PROXY {{.Proxy}}{{end}})</span></td>
<td>{{range $i, $a := .Addrs}}{{if $i}}, {{end}}{{$a}}{{end}}</td><td>{{.Pool}}</td>
<td class="num">{{index .Counters "active"}}</td><td class="num">{{index .Counters "sessions"}}</td><td class="num">{{index .Counters "refused"}}</td>
<td class="num">{{bytes (index .Counters "bytes_down")}}</td><td class="num">{{bytes (index .Counters "bytes_up")}}</td>
<td>{{range $i, $r := .Ranges}}{{if $i}}<br>{{end}}{{$r.Name}} {{$r.InUse}} / {{$r.Size}} ({{pct $r.InUse $r.Size}}){{if $r.Exhaustions}}, exhausted {{$r.Exhaustions}}×{{end}}{{end}}</td>
<td class="note">{{range $i, $c := others .Counters}}{{if $i}}, {{end}}{{$c.Name}} {{$c.Value}}{{end}}</td>
</tr>
{{end}}</table>

<h2>Live sessions ({{len .Live}})</h2>
{{if .Shown}}<table class="sessions">
<tr><th>session</th><th>client</th><th>user</th><th>realserver</th><th>mode</th><th>transfers</th><th>down</th><th>up</th><th>age</th></tr>
{{range .Shown}}<tr class="session">
<td>{{.ID}}</td><td>{{.Client}}</td><td>{{.User}}</td><td>{{if .Realserver.IsValid}}{{.Realserver}}{{else}}-{{end}}</td>
<td>{{proto .}}{{if .Mode}} {{.Mode}}{{end}}{{if .Transferring}} (transferring){{end}}</td>
<td class="num">{{.Transfers}}</td><td class="num">{{bytes .BytesDown}}</td><td class="num">{{bytes .BytesUp}}</td>
<td>{{since $.Time .Started}}</td>
</tr>
{{end}}</table>
{{if .Hidden}}<p class="hidden note">{{.Hidden}} more sessions not shown (the oldest {{len .Shown}} are); <a href="/status.json">/status.json</a> lists them all.</p>{{end}}
{{else}}<p class="note">none</p>{{end}}
<p class="note">Other counters lists those above zero. Bytes of running transfers are those the peers acknowledged so far; the exact count comes when the transfer ends. Also: <a href="/status.json">JSON</a> · <a href="/metrics">metrics</a> · <a href="/healthz">healthz</a></p>
</body>
</html>
`))
