// Package importgraph holds no code: its test checks that the module's imports point down, from
// the commands through the experiments, training, model and estimators to the matrix type, the
// generator and the internal helpers at the bottom.
package importgraph
