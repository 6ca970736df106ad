package experiments_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/internal/tomlconf"
)

// FuzzConfigRoundTrip: ParseConfig never panics; every configuration it accepts is written by
// Encode as a text that reads back to the same value and that Encode writes again byte for byte;
// every error wraps ErrConfig, names the file and, when the text is valid TOML, a line of it.
// The corpus in testdata/fuzz/FuzzConfigRoundTrip holds the committed configurations and
// malformed ones.
func FuzzConfigRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := experiments.ParseConfig(text, "f.toml", "fuzz")
		if err == nil {
			checkRoundTrip(t, c)
			return
		}
		fields := tomlconf.Fields(err)
		if len(fields) == 0 || !errors.Is(err, experiments.ErrConfig) {
			t.Fatalf("not a field error wrapping ErrConfig: %v", err)
		}
		var tree map[string]any
		_, perr := toml.Decode(string(text), &tree)
		valid := perr == nil && len(text) <= tomlconf.MaxSize && tomlconf.NewIndex(string(text)).Depth() <= tomlconf.MaxDepth
		lines := strings.Count(string(text), "\n") + 1
		for _, fe := range fields {
			if fe.File != "f.toml" || (valid && (fe.Line < 1 || fe.Line > lines)) {
				t.Fatalf("error without file or line: %v", fe)
			}
		}
	})
}
