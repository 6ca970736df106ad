package train

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/wtacrs/wtacrs/internal/tomlconf"
)

// FuzzParseConfig: ParseConfig never panics; what it accepts validates; every error wraps
// ErrConfig, names the file and, when the text is valid TOML, a line of it. The corpus in
// testdata/fuzz/FuzzParseConfig holds the committed configurations and malformed ones.
func FuzzParseConfig(f *testing.F) {
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseConfig(text, "f.toml")
		if err == nil {
			if verr := c.Validate(); verr != nil {
				t.Fatalf("accepted a configuration that does not validate: %v", verr)
			}
			return
		}
		fields := tomlconf.Fields(err)
		if len(fields) == 0 || !errors.Is(err, ErrConfig) {
			t.Fatalf("not a field error wrapping ErrConfig: %v", err)
		}
		var tree map[string]any
		_, perr := toml.Decode(text, &tree)
		valid := perr == nil && len(text) <= tomlconf.MaxSize && tomlconf.NewIndex(text).Depth() <= tomlconf.MaxDepth
		lines := strings.Count(text, "\n") + 1
		for _, fe := range fields {
			if fe.File != "f.toml" || (valid && (fe.Line < 1 || fe.Line > lines)) {
				t.Fatalf("error without file or line: %v", fe)
			}
		}
	})
}
