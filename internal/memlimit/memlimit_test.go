package memlimit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want uint64
	}{
		{"0", 0}, {"123", 123}, {"1e9", 1e9}, {"8GiB", 8 << 30}, {"512 MiB", 512 << 20},
		{"2.5GB", 2.5e9}, {"1kb", 1000}, {"10B", 10}, {"none", Unlimited}, {"Unlimited", Unlimited},
		{"1e30", Unlimited},
	} {
		got, err := ParseSize(c.in)
		require.NoError(t, err, c.in)
		assert.Equal(t, c.want, got, c.in)
	}
	for _, bad := range []string{"", "x", "-1", "NaN", "1XB", "GiB"} {
		_, err := ParseSize(bad)
		assert.ErrorIs(t, err, ErrSize, bad)
	}
}

func TestCheckAndArithmetic(t *testing.T) {
	t.Parallel()
	assert.NoError(t, Check("x", 10, 10))
	err := Check("the model", 3<<30, 1<<30)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.ErrorContains(t, err, "3.0 GiB")
	assert.ErrorContains(t, err, "1.0 GiB")
	assert.Equal(t, uint64(Unlimited), Sum(Unlimited-1, 2))
	assert.Equal(t, uint64(7), Sum(3, 4))
	assert.Equal(t, uint64(Unlimited), Mul(1<<40, 1<<40))
	assert.Equal(t, uint64(24), Mul(2, 3, 4))
	assert.Equal(t, uint64(0), Mul(5, -1))
	assert.Equal(t, "unlimited", Format(Unlimited))
	assert.Equal(t, "512 B", Format(512))
	if b, ok := Available(); ok {
		assert.Positive(t, b)
		assert.Positive(t, Default())
	}
}
