package checkpoint

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/model"
)

// runtimeOnly are the fields of model.Config that say how to run a model, not what it is:
// they are not stored.
var runtimeOnly = []string{"Recompute", "ReuseLayerNorm", "Checkpoint", "ChunkTokens"}

// TestArchitectureCoversConfig sets each field of model.Config in turn to a value other than
// its zero and checks that it survives the architecture's JSON: a field added to the model
// fails here until the architecture stores it (or runtimeOnly lists it).
func TestArchitectureCoversConfig(t *testing.T) {
	t.Parallel()
	typ := reflect.TypeFor[model.Config]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if slices.Contains(runtimeOnly, f.Name) {
			continue
		}
		var c model.Config
		v := reflect.ValueOf(&c).Elem().Field(i)
		switch v.Kind() {
		case reflect.Int, reflect.Int64, reflect.Int32:
			v.SetInt(1) // every int option of the model is valid at 1 (the first non-zero value)
		case reflect.Bool:
			v.SetBool(true)
		case reflect.String:
			v.SetString("x")
		default:
			t.Fatalf("model.Config.%s of kind %s: teach this test and the architecture that kind", f.Name, v.Kind())
		}
		b, err := json.Marshal(toArchitecture(c))
		require.NoError(t, err)
		var a architecture
		require.NoError(t, strict(b, &a))
		back, err := configOf(a, "test")
		require.NoError(t, err)
		got := reflect.ValueOf(back).Field(i).Interface()
		assert.Equal(t, v.Interface(), got, "model.Config.%s is not stored by the checkpoint's architecture: add it to architecture, toArchitecture, configOf and architectureKeys", f.Name)
	}
	var keys map[string]any
	b, err := json.Marshal(toArchitecture(model.Config{}))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &keys))
	assert.Len(t, keys, len(architectureKeys))
	for _, k := range architectureKeys {
		assert.Contains(t, keys, k)
	}
}
