//go:build !unix

package sweep

// processAlive cannot tell on this system: a job recorded as running is taken to be running.
func processAlive(int) bool { return true }
