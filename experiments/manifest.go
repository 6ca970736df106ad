package experiments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/wtacrs/wtacrs/internal/outdir"
	"github.com/wtacrs/wtacrs/matrix"
)

// newManifest returns the fields every manifest has: the name, the SHA-256 of the
// configuration as written (conf), the commit the program was built from, the machine, the GEMM
// backend and the times. The caller adds the seeds, timings and files.
func newManifest(name string, conf []byte, start, end time.Time) Manifest {
	hash := sha256.Sum256(conf)
	commit, dirty := gitCommit()
	return Manifest{Experiment: name, ConfigSHA256: hex.EncodeToString(hash[:]),
		GitCommit: commit, GitDirty: dirty, GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GEMMBackend: matrix.Backend(), Start: start.UTC(), End: end.UTC(), WallSeconds: end.Sub(start).Seconds()}
}

// commitResults writes m, its file list sorted, as manifest.json into the staging directory tmp
// of target and swaps tmp into place. ctx is checked first: that is the last safe point, and
// interrupted there the earlier results stay.
func commitResults(ctx context.Context, target *outdir.Target, tmp string, m Manifest) (Manifest, error) {
	slices.Sort(m.Files)
	js, _ := json.MarshalIndent(m, "", "  ") // plain data, cannot fail
	if err := os.WriteFile(filepath.Join(tmp, ManifestFile), append(js, '\n'), 0o644); err != nil {
		return Manifest{}, fmt.Errorf("experiments: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return Manifest{}, err
	}
	if err := target.Commit(tmp); err != nil {
		return Manifest{}, fmt.Errorf("experiments: %w", err)
	}
	return m, nil
}
