package conf

import (
	"testing"

	"github.com/BurntSushi/toml"
)

func TestLineIndex(t *testing.T) {
	const doc = `# comment with [brackets] and key = "value"
top = "a # not a comment"   # a comment

[[pool]]
name = 'literal "# x'
realservers = [
  { address = "10.0.0.11:21" },   # one
  { address = "10.0.0.12:21", weight = 2 },
]
  [pool.health]
  kind = """
multi-line "with" quotes
"""
  rise = 3

[[pool]]
name = "b"
  [[pool.realservers]]
  address = "10.0.0.13:21"
  [[pool.realservers]]
  "address" = "10.0.0.14:21"

[[ftp]]
listen = ["203.0.113.10:21",
  "203.0.113.10:2121"]
limits.x = 1
`
	var raw map[string]any
	if _, err := toml.Decode(doc, &raw); err != nil {
		t.Fatalf("the test document is not TOML: %v", err)
	}
	x := indexLines(doc)
	tests := []struct {
		path string
		want int
	}{
		{"top", 2},
		{"pool[0]", 4},
		{"pool[0].name", 5},
		{"pool[0].realservers", 6},
		{"pool[0].realservers[0].address", 7},
		{"pool[0].realservers[1]", 8},
		{"pool[0].realservers[1].weight", 8},
		{"pool[0].health", 10},
		{"pool[0].health.kind", 11},
		{"pool[0].health.rise", 14},
		{"pool[1].name", 17},
		{"pool[1].realservers", 18},
		{"pool[1].realservers[0].address", 19},
		{"pool[1].realservers[1].address", 21},
		{"ftp[0].listen[0]", 24},
		{"ftp[0].listen[1]", 25},
		{"ftp[0].limits.x", 26},
		{"ftp[0].listen[7]", 24},    // falls back to the parent
		{"pool[1].health.fall", 16}, // falls back to the table
		{"nowhere.at.all", 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := x.find(tt.path); got != tt.want {
				t.Errorf("line of %s = %d, want %d", tt.path, got, tt.want)
			}
		})
	}
}
