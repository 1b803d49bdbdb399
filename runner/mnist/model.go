package mnist

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"time"
	"unsafe"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// arch is the MLP's shape: inputs → hidden×layers (activation) → classes.
type arch struct {
	dtype      tensor.Dtype
	inputs     int
	hidden     int
	layers     int
	classes    int
	activation string
	// dropout is the probability of zeroing a hidden unit in training
	// nets (0: none); evaluation nets never drop.
	dropout float64
}

// shapes lists the parameter tensors in order: W0, b0, W1, b1, …, Wout,
// bout. Weights are in×out matrices, biases 1×out rows.
func (a arch) shapes() [][2]int {
	var s [][2]int
	in := a.inputs
	for range a.layers {
		s = append(s, [2]int{in, a.hidden}, [2]int{1, a.hidden})
		in = a.hidden
	}
	return append(s, [2]int{in, a.classes}, [2]int{1, a.classes})
}

// initParams draws the initial parameters from rng: He-normal
// (std √(2/fan_in)) for ReLU-like activations, Glorot-normal
// (std √(2/(fan_in+fan_out))) for tanh, sigmoid and softplus and for the
// output layer; biases start at zero.
func initParams(a arch, rng *rand.Rand) []*tensor.Dense {
	shapes := a.shapes()
	out := make([]*tensor.Dense, len(shapes))
	for i, s := range shapes {
		rows, cols := s[0], s[1]
		var std float64
		isBias := i%2 == 1
		last := i >= len(shapes)-2
		switch {
		case isBias:
		case !last && (a.activation == "relu" || a.activation == "leaky_relu" || a.activation == "elu"):
			std = math.Sqrt(2 / float64(rows))
		default:
			std = math.Sqrt(2 / float64(rows+cols))
		}
		switch a.dtype {
		case tensor.Float32:
			v := make([]float32, rows*cols)
			if !isBias {
				for j := range v {
					v[j] = float32(rng.NormFloat64() * std)
				}
			}
			out[i] = tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(v))
		default:
			v := make([]float64, rows*cols)
			if !isBias {
				for j := range v {
					v[j] = rng.NormFloat64() * std
				}
			}
			out[i] = tensor.New(tensor.WithShape(rows, cols), tensor.WithBacking(v))
		}
	}
	return out
}

// net is one compiled copy of the MLP for a fixed batch size: its own
// graph and tape machine, input tensors that are refilled in place for
// every batch, and parameters whose values the trainer keeps in step with
// the other copies.
type net struct {
	batch  int
	g      *G.ExprGraph
	x, y   *G.Node // inputs: batch×inputs pixels, batch×classes one-hot
	params []*G.Node
	cost   *G.Node // mean cross-entropy (training nets)
	logp   *G.Node // log-probabilities (evaluation nets)
	vm     G.VM
	pc     *int // the tape machine's program counter, when found
	xv, yv *tensor.Dense
	// masks are the dropout masks, one per hidden layer (training nets
	// with dropout only), refilled with every batch from rng.
	masks   []*tensor.Dense
	dropout float64
	rng     *rand.Rand
	// tape lets run stop between the forward and the backward pass to
	// time each (nil: the tape's layout is not the known one).
	tape *tapeSplit
	// runs counts the tape's runs; fwdSampled and bwdSampled sum the
	// forward and backward times of the runs that were split.
	runs                   int
	fwdSampled, bwdSampled time.Duration
	// clock times this replica's phases when it runs on its own
	// goroutine (workers > 1).
	clock phaseClock
}

// newNet builds the graph for batch examples. A training net computes the
// mean softmax cross-entropy and its gradients with respect to every
// parameter; an evaluation net only the log-probabilities. initial gives the
// parameters' starting values (cloned).
func newNet(a arch, batch int, initial []*tensor.Dense, train bool) (n *net, err error) {
	defer recoverInto(&err)
	g := G.NewGraph()
	n = &net{batch: batch, g: g}
	n.xv = tensor.New(tensor.Of(a.dtype), tensor.WithShape(batch, a.inputs))
	n.yv = tensor.New(tensor.Of(a.dtype), tensor.WithShape(batch, a.classes))
	n.x = G.NewMatrix(g, a.dtype, G.WithShape(batch, a.inputs), G.WithName("x"), G.WithValue(n.xv))
	n.y = G.NewMatrix(g, a.dtype, G.WithShape(batch, a.classes), G.WithName("y"), G.WithValue(n.yv))
	for i, v := range initial {
		name := fmt.Sprintf("w%d", i/2)
		if i%2 == 1 {
			name = fmt.Sprintf("b%d", i/2)
		}
		s := v.Shape()
		p := G.NewMatrix(g, a.dtype, G.WithShape(s[0], s[1]), G.WithName(name), G.WithValue(v.Clone().(*tensor.Dense)))
		n.params = append(n.params, p)
	}

	h := n.x
	for l := 0; l <= a.layers; l++ {
		w, b := n.params[2*l], n.params[2*l+1]
		z, err := G.Mul(h, w)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		if z, err = G.BroadcastAdd(z, b, nil, []byte{0}); err != nil {
			return nil, fmt.Errorf("layer %d bias: %w", l, err)
		}
		if l == a.layers {
			h = z
			break
		}
		if h, err = activate(a.activation, z); err != nil {
			return nil, fmt.Errorf("layer %d %s: %w", l, a.activation, err)
		}
		if train && a.dropout > 0 {
			if h, err = n.dropoutMask(a, l, h); err != nil {
				return nil, fmt.Errorf("layer %d dropout: %w", l, err)
			}
		}
	}
	if n.logp, err = G.LogSoftMax(h); err != nil {
		return nil, fmt.Errorf("log-softmax: %w", err)
	}
	if !train {
		n.vm = G.NewTapeMachine(g)
		n.pc = programCounter(n.vm)
		return n, nil
	}
	// cost = −mean over the batch of Σ_classes y·log p
	picked, err := G.HadamardProd(n.logp, n.y)
	if err != nil {
		return nil, err
	}
	perExample, err := G.Sum(picked, 1)
	if err != nil {
		return nil, err
	}
	mean, err := G.Mean(perExample)
	if err != nil {
		return nil, err
	}
	if n.cost, err = G.Neg(mean); err != nil {
		return nil, err
	}
	grads, err := G.Grad(n.cost, n.params...)
	if err != nil {
		return nil, fmt.Errorf("gradients: %w", err)
	}
	// Compile only what the cost and the parameters' gradients need:
	// gorgonia's symbolic differentiation of x·W also builds the gradient
	// with respect to the input x, a third of the work, which nothing uses.
	needed := g.ExactSubgraphRoots(append(grads, n.cost)...)
	n.vm = G.NewTapeMachine(needed, G.BindDualValues(n.params...))
	n.pc = programCounter(n.vm)
	if n.pc != nil {
		n.tape = splitTape(n.vm, g, n.cost)
	}
	return n, nil
}

// activate applies a hidden-layer activation. ELU (α=1) is composed from
// differentiable ops: max(z,0) + expm1(−max(−z,0)).
func activate(name string, z *G.Node) (*G.Node, error) {
	switch name {
	case "relu":
		return G.Rectify(z)
	case "tanh":
		return G.Tanh(z)
	case "sigmoid":
		return G.Sigmoid(z)
	case "leaky_relu":
		return G.LeakyRelu(z, 0.01)
	case "softplus":
		return G.Softplus(z)
	case "elu":
		pos, err := G.Rectify(z)
		if err != nil {
			return nil, err
		}
		negZ, err := G.Neg(z)
		if err != nil {
			return nil, err
		}
		negPart, err := G.Rectify(negZ)
		if err != nil {
			return nil, err
		}
		negPart, err = G.Neg(negPart)
		if err != nil {
			return nil, err
		}
		negPart, err = G.Expm1(negPart)
		if err != nil {
			return nil, err
		}
		return G.Add(pos, negPart)
	}
	return nil, fmt.Errorf("unknown activation %q", name)
}

// run executes the tape once and rewinds it for the next batch.
func (n *net) run() (err error) {
	defer recoverInto(&err)
	defer n.rewind()
	return n.vm.RunAll()
}

// rewind readies the tape machine for the next run. gorgonia's Reset
// also forgets every register, so the next run allocates all its
// intermediate tensors again (megabytes per batch, and the garbage
// collection that follows); moving the program counter back to the start
// keeps them, and the ops then write into them in place (their
// UsePreallocDo path, the same one the tape takes when it reuses a
// register within a run). Where the machine's layout is not the one
// known here, this falls back to Reset.
func (n *net) rewind() {
	if n.pc != nil {
		*n.pc = 0
		return
	}
	n.vm.Reset()
}

// costValue is the last run's cost as a float64.
func (n *net) costValue() float64 {
	switch v := n.cost.Value().Data().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

// fill copies examples idx[0:batch] of ds into the input tensors, pixels
// scaled to [0,1] and labels one-hot. Rows past len(idx) are zeroed (the
// padding of a last, partial evaluation batch). A training net with
// dropout draws its masks for the batch too.
func (n *net) fill(ds *Dataset, idx []int) {
	switch x := n.xv.Data().(type) {
	case []float32:
		fillBatch(x, n.yv.Data().([]float32), ds, idx, n.batch)
	case []float64:
		fillBatch(x, n.yv.Data().([]float64), ds, idx, n.batch)
	}
	n.drawMasks()
}

// scale255 maps a byte to [0,1] by table, the same in both precisions.
var scale255 = func() (t [256]float64) {
	for i := range t {
		t[i] = float64(i) / 255
	}
	return t
}()

func fillBatch[T float32 | float64](x, y []T, ds *Dataset, idx []int, batch int) {
	f := ds.Features()
	classes := len(y) / batch
	clear(y)
	for r := range batch {
		row := x[r*f : (r+1)*f]
		if r >= len(idx) {
			clear(row)
			continue
		}
		i := idx[r]
		for j, p := range ds.Pixels[i*f : (i+1)*f] {
			row[j] = T(scale255[p])
		}
		y[r*classes+int(ds.Labels[i])] = 1
	}
}

// grads are the parameters' gradient tensors after a run.
func (n *net) grads() ([]*tensor.Dense, error) {
	out := make([]*tensor.Dense, len(n.params))
	for i, p := range n.params {
		g, err := p.Grad()
		if err != nil {
			return nil, fmt.Errorf("gradient of %s: %w", p.Name(), err)
		}
		out[i] = g.(*tensor.Dense)
	}
	return out, nil
}

// values are the parameters' current value tensors.
func (n *net) values() []*tensor.Dense {
	out := make([]*tensor.Dense, len(n.params))
	for i, p := range n.params {
		out[i] = p.Value().(*tensor.Dense)
	}
	return out
}

// copyValues sets dst's parameter values to src's, in place.
func copyValues(dst, src []*tensor.Dense) {
	for i := range dst {
		switch d := dst[i].Data().(type) {
		case []float32:
			copy(d, src[i].Data().([]float32))
		case []float64:
			copy(d, src[i].Data().([]float64))
		}
	}
}

// recoverInto turns a panic inside gorgonia into an error.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("gorgonia panicked: %v", r)
	}
}

// programCounter finds the int field pc of gorgonia's tape machine
// (v0.9.18), or nil.
func programCounter(vm G.VM) *int {
	v := reflect.ValueOf(vm)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := v.Elem().FieldByName("pc")
	if !f.IsValid() || f.Kind() != reflect.Int {
		return nil
	}
	return (*int)(unsafe.Pointer(f.UnsafeAddr()))
}
