package mnist

import (
	"fmt"
	"math/rand/v2"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Dropout multiplies each hidden layer's output by a mask that holds 0
// with probability p and 1/(1−p) otherwise (inverted dropout: the
// expected activation is unchanged, so the evaluation net, which has no
// masks, needs no rescaling). The masks are inputs of the training net,
// drawn for every batch from the replica's own seeded generator, rather
// than gorgonia's Dropout op, which seeds itself from the clock and would
// make trials irreproducible.

// dropoutMask adds layer l's mask input to a training net and returns
// h ⊙ mask.
func (n *net) dropoutMask(a arch, l int, h *G.Node) (*G.Node, error) {
	v := tensor.New(tensor.Of(a.dtype), tensor.WithShape(n.batch, a.hidden))
	m := G.NewMatrix(n.g, a.dtype, G.WithShape(n.batch, a.hidden), G.WithName(fmt.Sprintf("mask%d", l)), G.WithValue(v))
	n.masks = append(n.masks, v)
	n.dropout = a.dropout
	if n.rng == nil {
		n.rng = rand.New(rand.NewPCG(0, uint64(l)))
	}
	return G.HadamardProd(h, m)
}

// drawMasks fills the dropout masks for the next batch. Each 64-bit draw
// decides four units by 16 bits each (a keep probability resolved to
// 1/65536), which keeps the masks' cost a small part of filling a batch.
func (n *net) drawMasks() {
	if len(n.masks) == 0 {
		return
	}
	keep := 1 - n.dropout
	threshold := uint64(keep * 65536)
	for _, m := range n.masks {
		switch d := m.Data().(type) {
		case []float32:
			drawMask(d, n.rng, threshold, float32(1/keep))
		case []float64:
			drawMask(d, n.rng, threshold, 1/keep)
		}
	}
}

func drawMask[T float32 | float64](d []T, rng *rand.Rand, threshold uint64, scale T) {
	var bits uint64
	for j := range d {
		if j%4 == 0 {
			bits = rng.Uint64()
		}
		if bits&0xffff < threshold {
			d[j] = scale
		} else {
			d[j] = 0
		}
		bits >>= 16
	}
}
