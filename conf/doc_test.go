package conf

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const referencePath = "../docs/configuration.md"

// TestReferenceDocumentsEveryKey keeps docs/configuration.md complete as
// the schema grows. The rule: every table of the schema has a heading that
// names its header in backticks (## `[[ftp]]`, ## `[ftp.tls]`), and every
// key of the table a row of its own in that section, up to the next
// heading: "| `key` | type | default | meaning |", no cell empty. A row
// naming a key the table does not have fails too.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	raw, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatal(err)
	}
	documented := referenceRows(t, string(raw))
	schema := map[string][]string{}
	schemaTables(reflect.TypeFor[Config](), "", false, schema)
	if len(schema) < 12 {
		t.Fatalf("found %d tables in the schema, want at least 12: %v", len(schema), schema)
	}
	for header, keys := range schema {
		rows, ok := documented[header]
		if !ok {
			t.Errorf("%s has no section for %s (a heading naming `%s`)", referencePath, header, header)
			continue
		}
		for _, k := range keys {
			if !slices.Contains(rows, k) {
				t.Errorf("%s: key %s of %s is not documented (no row | `%s` | in the %s section)",
					referencePath, tablePath(header)+k, header, k, header)
			}
		}
		for _, k := range rows {
			if !slices.Contains(keys, k) {
				t.Errorf("%s: the %s section documents %q, which %s does not have", referencePath, header, k, header)
			}
		}
	}
	for header := range documented {
		if _, ok := schema[header]; !ok {
			t.Errorf("%s has a section for %s, which the schema does not have", referencePath, header)
		}
	}
}

// schemaTables records, under its TOML header ("[[pool]]",
// "[pool.health]"), the keys of every table of type t found at path.
func schemaTables(t reflect.Type, path string, array bool, out map[string][]string) {
	if path != "" {
		header := "[" + path + "]"
		if array {
			header = "[" + header + "]"
		}
		for name := range tomlFields(t) {
			out[header] = append(out[header], name)
		}
	}
	for name, f := range tomlFields(t) {
		sub := name
		if path != "" {
			sub = path + "." + name
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case isText(ft):
		case ft.Kind() == reflect.Struct:
			schemaTables(ft, sub, false, out)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct && !isText(ft.Elem()):
			schemaTables(ft.Elem(), sub, true, out)
		}
	}
}

// referenceRows maps each table header named in a heading of the reference
// to the keys of the rows of its section.
func referenceRows(t *testing.T, doc string) map[string][]string {
	rows := map[string][]string{}
	section := ""
	for n, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
			section = ""
			if _, rest, ok := strings.Cut(line, "`["); ok {
				if header, _, ok := strings.Cut(rest, "]`"); ok {
					section = "[" + header + "]"
					if _, dup := rows[section]; dup {
						t.Errorf("%s:%d: a second section for %s", referencePath, n+1, section)
					}
					rows[section] = []string{}
				}
			}
		case section != "" && strings.HasPrefix(line, "| `"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			key := strings.Trim(strings.TrimSpace(cells[0]), "`")
			if len(cells) != 4 {
				t.Errorf("%s:%d: the row of %s has %d cells, want 4 (key, type, default, meaning)", referencePath, n+1, key, len(cells))
			}
			for i, c := range cells {
				if strings.TrimSpace(c) == "" {
					t.Errorf("%s:%d: cell %d of the row of %s is empty", referencePath, n+1, i+1, key)
				}
			}
			rows[section] = append(rows[section], key)
		}
	}
	return rows
}

// tablePath turns a header into the prefix of its keys: "[[pool]]" ->
// "pool.".
func tablePath(header string) string {
	return strings.Trim(header, "[]") + "."
}
