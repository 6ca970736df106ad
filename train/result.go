package train

import (
	"time"

	"github.com/wtacrs/wtacrs/data"
	"github.com/wtacrs/wtacrs/model"
)

// Options are the optional hooks of [Run].
type Options struct {
	// Observer, when not nil, is asked before each step's forward pass which layers it wants and
	// receives their per-token norms after that step's backward pass.
	Observer Observer
	// Progress, when not nil, is called after every optimiser step.
	Progress func(Progress)
	// Data, when not nil, replaces the train and dev sets that the configuration names
	// (TrainPath, DevPath, MaxTrain, MaxDev and VocabSize are then ignored).
	Data *data.Splits
	// MemLimit is the most memory, in bytes, the run may be estimated to need ([EstimateMemory]),
	// checked before the data are read (from a bound of their shape) and again before the model
	// is built; 0 means the memory available now (memlimit.Default), memlimit.Unlimited none.
	MemLimit uint64
}

// Progress reports one finished optimiser step.
type Progress struct {
	// Step is the 1-based step and TotalSteps the number of steps of the run.
	Step, TotalSteps int
	// Epoch is the 0-based epoch of the step.
	Epoch int
	// Loss is the mean cross-entropy of the step's batch.
	Loss float64
	// Elapsed is the time since the start of training.
	Elapsed time.Duration
	// EpochDone is true on the last step of an epoch, reported after the dev evaluation.
	EpochDone bool
	// DevAccuracy is, when EpochDone, that evaluation's accuracy in [0, 1]; 0 otherwise.
	DevAccuracy float64
}

// LayerMemory is the activation memory one linear layer saved for backward, averaged over the
// training steps of a run.
type LayerMemory struct {
	// Layer is the linear layer.
	Layer model.LayerID
	// Method is "exact" or "wtacrs" (under LoRA, for an adapted layer, the method of its A
	// product), or "frozen" for a layer LoRA leaves without adapter.
	Method string
	// LoRA reports whether the layer has a LoRA adapter.
	LoRA bool `json:",omitempty"`
	// ExactBytes is what exact backward of a fully trained layer keeps: the whole input,
	// n × d_in elements.
	ExactBytes float64
	// SavedBytes is what the layer kept ([model.Tape.LayerBytes]): the whole input (exact), or
	// the kept pre-scaled rows of H plus their indices (WTA-CRS); under LoRA nothing for the
	// frozen weight and, with an adapter, the A product's input (all or sampled rows) and the
	// n×r input of the B product.
	SavedBytes float64
	// KeptFraction is the mean fraction k'/n of pooled tokens kept for the sampled product (1
	// for exact, 0 for a frozen layer), where k' is the number of distinct rows kept.
	KeptFraction float64
}

// Result summarises a run.
type Result struct {
	// Config is the configuration the run was given (validated; zero fields as given).
	Config Config
	// Steps is the number of optimiser steps taken.
	Steps int
	// EpochDevAccuracy is the dev accuracy after each epoch.
	EpochDevAccuracy []float64
	// EpochLoss is the mean training loss of each epoch.
	EpochLoss []float64
	// DevAccuracy is the dev accuracy after the last epoch.
	DevAccuracy float64
	// MajorityAccuracy is the dev accuracy of always predicting the training set's majority label.
	MajorityAccuracy float64
	// TrainExamples and DevExamples count the examples used.
	TrainExamples, DevExamples int
	// Tokens is the number of pooled tokens (n summed over steps) processed in training.
	Tokens int64
	// TokensPerSecond is Tokens divided by the training time (evaluation excluded).
	TokensPerSecond float64
	// TrainTime is the time spent in training steps, Elapsed the whole run.
	TrainTime, Elapsed time.Duration
	// Memory lists, per linear layer, the activation bytes saved for backward.
	Memory []LayerMemory
	// SavedBytes and ExactBytes sum Memory over the layers: the mean bytes per step that the
	// linear layers kept, and what exact backward would have kept, counting the input that q, k
	// and v share once per layer (so exact totals overstate what an exact step stores, which
	// keeps that input once; the benchmarks of this package measure the whole tape).
	SavedBytes, ExactBytes float64
	// AttentionBytes is the mean bytes per step the blocks kept for the backward of their
	// attention products ([model.Tape.AttentionBytes] summed over the blocks).
	AttentionBytes float64
	// TapeBytes is the mean bytes per step of everything the forward pass kept for backward
	// ([model.Tape.SavedBytes]: a tensor shared by several operations counted once).
	TapeBytes float64
	// TrainableParams is the number of scalar parameters trained (all of them, or under LoRA
	// the adapters, the classification head and, with BitFit, the biases).
	TrainableParams int
}
