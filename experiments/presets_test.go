package experiments_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/wtacrs/wtacrs/experiments"
	"github.com/wtacrs/wtacrs/model"
	"github.com/wtacrs/wtacrs/train"
)

// The presets of the published configurations are valid train configurations, and the accuracy
// runs that measure them train exactly them (their one WTA-CRS row is the preset).
func TestPresetsAreTheAccuracyRuns(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ preset, accuracy string }{
		{"configs/presets/published.toml", "configs/accuracy-published.toml"},
		{"configs/presets/published-lora.toml", "configs/accuracy-published-lora.toml"},
	} {
		p, err := train.LoadConfig(tc.preset)
		require.NoError(t, err, tc.preset)
		a, err := experiments.LoadConfig(tc.accuracy)
		require.NoError(t, err, tc.accuracy)
		require.Len(t, a.Accuracy.Ratios, 1, tc.accuracy)
		row := a.Train.WithMethod(train.MethodWTACRS, a.Accuracy.Ratios[0], a.Accuracy.Kinds)
		require.NoError(t, row.Validate())
		for _, k := range model.Kinds() {
			assert.Equal(t, p.Kind(k), row.Kind(k), "%s: layer %s", tc.preset, k)
		}
		p.Layers, row.Layers = nil, nil
		assert.Equal(t, p, row, tc.preset)
	}
}
