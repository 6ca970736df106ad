package train

import (
	"context"
	"fmt"
)

// Run trains the model of cfg and returns its result. It stops cleanly between steps when ctx
// is cancelled and then returns ctx.Err().
func Run(ctx context.Context, cfg Config, opt Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: training loop not built yet", ErrData)
}
