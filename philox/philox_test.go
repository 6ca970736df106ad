package philox

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPhiloxKnownAnswers(t *testing.T) {
	t.Parallel()
	// Known-answer vectors of the Random123 distribution for philox4x32-10.
	for _, tc := range []struct {
		ctr  [4]uint32
		key  [2]uint32
		want [4]uint32
	}{
		{[4]uint32{}, [2]uint32{}, [4]uint32{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
		{[4]uint32{^uint32(0), ^uint32(0), ^uint32(0), ^uint32(0)}, [2]uint32{^uint32(0), ^uint32(0)},
			[4]uint32{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
		{[4]uint32{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, [2]uint32{0xa4093822, 0x299f31d0},
			[4]uint32{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
	} {
		assert.Equal(t, tc.want, Philox(tc.ctr, tc.key))
	}
}

func TestUniformLayout(t *testing.T) {
	t.Parallel()
	// u is built from the first two words of the block for counter (j, 0, stream, 0), key (seed).
	x := Philox([4]uint32{7, 0, 3, 0}, [2]uint32{42, 0})
	want := float64((uint64(x[0])<<32|uint64(x[1]))>>11) / (1 << 53)
	assert.Equal(t, want, Uniform(42, 3, 7))
	for j := uint64(0); j < 1000; j++ {
		u := Uniform(1, 2, j)
		require.True(t, u >= 0 && u < 1, "u = %v", u)
	}
}
