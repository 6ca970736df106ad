package experiments

// SetAccuracyJobs sets the number of concurrent trainings of an accuracy run and returns the
// function that restores it.
func SetAccuracyJobs(n int) func() {
	old := accuracyJobs
	accuracyJobs = n
	return func() { accuracyJobs = old }
}
