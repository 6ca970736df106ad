package experiments_test

import (
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
	_, err := toml.DecodeFile("configs/reference.toml", &ref)
	require.NoError(t, err)
	for table, v := range map[string]any{"experiment": experiments.Experiment{}, "analysis": experiments.Analysis{}, "train": train.Config{}} {
		got, ok := ref[table].(map[string]any)
		require.True(t, ok, table)
		typ := reflect.TypeOf(v)
		for i := range typ.NumField() {
			key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",") // the name without omitempty or omitzero
			assert.Contains(t, got, key, "reference.toml lacks %s.%s", table, key)
		}
	}
}
