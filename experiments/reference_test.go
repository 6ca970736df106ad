package experiments_test

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/train"
)

// The commented reference configuration documents every key: it must list each field of
// [experiment], [analysis] and [train].
func TestReferenceConfigListsEveryKey(t *testing.T) {
	t.Parallel()
	var ref map[string]any
	text, err := os.ReadFile("configs/reference.toml")
	require.NoError(t, err)
	_, err = toml.Decode(string(text), &ref)
	require.NoError(t, err)
	for table, v := range map[string]any{"experiment": experiments.Experiment{}, "analysis": experiments.Analysis{}, "train": train.Config{}} {
		got, ok := ref[table].(map[string]any)
		require.True(t, ok, table)
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",") // the name without omitempty or omitzero
			if typ.Field(i).Type.Kind() == reflect.Pointer {
				// An optional table whose presence turns a feature on ([train.lora]): documented
				// commented out, every key of it too.
				assert.Contains(t, string(text), "# ["+table+"."+key+"]", "reference.toml lacks a commented %s.%s table", table, key)
				sub := typ.Field(i).Type.Elem()
				for j := range sub.NumField() {
					name, _, _ := strings.Cut(sub.Field(j).Tag.Get("toml"), ",")
					assert.Regexp(t, "(?m)^# "+name+" = ", string(text), "reference.toml lacks %s.%s.%s", table, key, name)
				}
				continue
			}
			assert.Contains(t, got, key, "reference.toml lacks %s.%s", table, key)
		}
	}
}
