package tomlconf

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// FuzzIndex checks the index against the parser: it never panics, and for every text the
// parser accepts (nested at most MaxDepth deep) it finds every key of MetaData.Keys on a line
// of the text, a line that holds the key's last part when the line has no quotes. The corpus
// in testdata/fuzz/FuzzIndex holds what can hide a key or fake one.
func FuzzIndex(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		ix := NewIndex(text)
		var tree map[string]any
		md, err := toml.Decode(text, &tree)
		if err != nil || ix.Depth() > MaxDepth {
			return
		}
		lines := strings.Split(text, "\n")
		for _, k := range md.Keys() {
			l := ix.plainLine(k)
			if l < 1 || l > len(lines) {
				t.Fatalf("key %s: line %d, want 1..%d", k, l, len(lines))
			}
			last := k[len(k)-1]
			if !strings.ContainsAny(lines[l-1], `"'`) && !strings.Contains(lines[l-1], last) {
				t.Fatalf("key %s: line %d %q does not hold %q", k, l, lines[l-1], last)
			}
		}
	})
}

// FuzzDecode decodes any text into a struct of every supported kind: it never panics, every
// error wraps the sentinel and names the file, and when the text is valid TOML every error
// names a key on a line of the text.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		c := testDefaults()
		_, err := Decode(text, "f.toml", &c, errTest)
		if err == nil {
			return
		}
		fields := Fields(err)
		if len(fields) == 0 {
			t.Fatalf("error without field errors: %v", err)
		}
		var tree map[string]any
		_, perr := toml.Decode(text, &tree)
		for _, fe := range fields {
			if !errors.Is(fe, errTest) || fe.File != "f.toml" {
				t.Fatalf("%v: sentinel or file missing", fe)
			}
			if perr == nil && len(text) <= MaxSize && NewIndex(text).Depth() <= MaxDepth && (fe.Key == "" || fe.Line < 1) {
				t.Fatalf("valid TOML, error without key or line: %v", fe)
			}
		}
	})
}
