package admin

import (
	"fmt"
	"html/template"
	"math"
	"strings"
)

// The size of a chart on the status page, in CSS pixels, and the margins
// left for its labels.
const (
	chartW, chartH         = 360, 120
	chartLeft, chartRight  = 6, 6
	chartTop, chartBottom  = 18, 16
	chartPlotW, chartPlotH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
)

// series is one line of a chart: a name for the legend and CSS class,
// and the value it takes from each sample.
type series struct {
	Name  string
	Value func(Sample) float64
}

// chartView is one chart of the status page, drawn server-side as inline
// SVG: no script, no external asset.
type chartView struct {
	Title string
	SVG   template.HTML
}

// charts are the status page's charts of h: sessions, throughput and
// refusals over the samples kept.
func charts(h []Sample) []chartView {
	count := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	rate := func(v float64) string { return humanBytes(int64(v)) + "/s" }
	perSec := func(v float64) string { return fmt.Sprintf("%.2g/s", v) }
	return []chartView{
		{"Sessions", drawChart("sessions", h, count,
			series{"sessions", func(s Sample) float64 { return float64(s.Sessions) }},
			series{"transferring", func(s Sample) float64 { return float64(s.Transferring) }})},
		{"Throughput", drawChart("throughput", h, rate,
			series{"down", func(s Sample) float64 { return s.Down }},
			series{"up", func(s Sample) float64 { return s.Up }})},
		{"Sessions refused", drawChart("refused", h, perSec,
			series{"refused", func(s Sample) float64 { return s.Refused }})},
	}
}

// drawChart draws the series of h as polylines over time, scaled to the
// largest value, with that value, the time span and each series' latest
// value as labels. The SVG holds only numbers and the fixed names given
// here, so it is safe to embed as is.
func drawChart(id string, h []Sample, format func(float64) string, ss ...series) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" id="chart-%s" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`,
		id, chartW, chartH, chartW, chartH, id)
	fmt.Fprintf(&b, `<rect class="plot" x="%d" y="%d" width="%d" height="%d"/>`, chartLeft, chartTop, chartPlotW, chartPlotH)
	if len(h) < 2 {
		fmt.Fprintf(&b, `<text class="empty" x="%d" y="%d">collecting samples…</text></svg>`, chartLeft+8, chartTop+chartPlotH/2)
		return template.HTML(b.String())
	}
	top := 0.0
	for _, s := range ss {
		for _, x := range h {
			top = max(top, s.Value(x))
		}
	}
	top = niceCeil(top)
	t0, span := h[0].Time, h[len(h)-1].Time.Sub(h[0].Time).Seconds()
	if span <= 0 {
		span = 1
	}
	fmt.Fprintf(&b, `<text class="scale" x="%d" y="%d">max %s</text>`, chartLeft, chartTop-5, format(top))
	legend := chartW - chartRight
	for i := len(ss) - 1; i >= 0; i-- {
		s := ss[i]
		label := fmt.Sprintf("%s %s", s.Name, format(s.Value(h[len(h)-1])))
		fmt.Fprintf(&b, `<text class="legend s%d" x="%d" y="%d" text-anchor="end">%s</text>`, i, legend, chartTop-5, label)
		legend -= 7*len([]rune(label)) + 10
	}
	for i, s := range ss {
		fmt.Fprintf(&b, `<polyline class="line s%d" data-series="%s" points="`, i, s.Name)
		for j, x := range h {
			px := chartLeft + chartPlotW*x.Time.Sub(t0).Seconds()/span
			py := float64(chartTop+chartPlotH) - chartPlotH*s.Value(x)/top
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", px, py)
		}
		b.WriteString(`"/>`)
	}
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d">%s</text>`, chartLeft, chartH-3, h[0].Time.Format("15:04:05"))
	fmt.Fprintf(&b, `<text class="axis" x="%d" y="%d" text-anchor="end">%s</text>`, chartW-chartRight, chartH-3, h[len(h)-1].Time.Format("15:04:05"))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten, for a chart's
// top; at least 1, so that an all-zero series lies on the axis.
func niceCeil(v float64) float64 {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
