package conf

import (
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/algd/algd/internal/manpage"
)

// TestManPageCoversEveryKey renders algd.toml(5) from docs/configuration.md
// as dist/mkdeb does and checks, with the schema walk of
// TestReferenceDocumentsEveryKey, that every key of every table is a
// tagged paragraph (.TP, then \fBkey\fR) of its table's section, and no
// section tags a key its table lacks.
func TestManPageCoversEveryKey(t *testing.T) {
	raw, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	roff := string(manpage.Render(manpage.Page{Name: "algd.toml", Section: "5", Summary: "configuration file of algd", Markdown: raw}))
	schema := map[string][]string{}
	schemaTables(reflect.TypeFor[Config](), "", false, schema)
	tagged := map[string][]string{}
	section := ""
	lines := strings.Split(roff, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, ".SH "):
			section = strings.Trim(strings.TrimPrefix(l, ".SH "), `"`)
		case l == ".TP" && i+1 < len(lines):
			key, _, ok := strings.Cut(strings.TrimPrefix(lines[i+1], `\fB`), `\fR`)
			if !ok || !strings.HasPrefix(lines[i+1], `\fB`) {
				t.Errorf("line %d: the tag %q does not start with a key in bold", i+2, lines[i+1])
				continue
			}
			tagged[section] = append(tagged[section], strings.ReplaceAll(key, `\-`, "-"))
		}
	}
	if len(schema) < 12 {
		t.Fatalf("found %d tables in the schema, want at least 12", len(schema))
	}
	for header, keys := range schema {
		got, ok := tagged[header]
		if !ok {
			t.Errorf("algd.toml(5) has no section %s with its keys (sections: %v)", header, slices.Sorted(maps.Keys(tagged)))
			continue
		}
		for _, k := range keys {
			if !slices.Contains(got, k) {
				t.Errorf("algd.toml(5): key %s of %s is missing", k, header)
			}
		}
		for _, k := range got {
			if !slices.Contains(keys, k) {
				t.Errorf("algd.toml(5): section %s tags %q, which %s does not have", header, k, header)
			}
		}
	}
	for _, want := range []string{".TH \"ALGD.TOML\" 5", ".SH NAME\nalgd.toml \\- configuration file of algd\n", ".SH \"READING THE FILE\"", ".SS \"Port claims\""} {
		if !strings.Contains(roff, want) {
			t.Errorf("algd.toml(5) lacks %q", want)
		}
	}
}
