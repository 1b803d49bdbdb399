package mnist

import (
	"reflect"
	"unsafe"

	G "gorgonia.org/gorgonia"
)

// tapeSplit runs a training net's tape in two parts, the forward pass
// (up to the cost) and the backward pass, so that each can be timed on
// its own: gorgonia runs the whole tape in one RunAll and has no hook
// between instructions, and timing each op would cost more than the ops
// of a small MLP. It shortens the tape machine's instruction slice to
// the forward part for one RunAll, then restores it and lets a second
// RunAll go on from the program counter, which RunAll does not reset.
// It depends on gorgonia v0.9.18's tapeMachine layout (fields p and
// p.instructions); splitTape returns nil when the layout differs, and the
// net then runs its tape whole (its time is all counted as forward).
type tapeSplit struct {
	instrs  *sliceHeader
	full    int // instructions in the whole tape
	forward int // instructions up to and including the last forward op
}

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// splitTape finds where vm's forward pass ends: after the last
// instruction of a node the cost depends on. Gradient instructions that
// the tape happens to schedule before that point count as forward.
func splitTape(vm G.VM, g *G.ExprGraph, cost *G.Node) *tapeSplit {
	v := reflect.ValueOf(vm)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return nil
	}
	p := v.Elem().FieldByName("p")
	if !p.IsValid() || p.Kind() != reflect.Pointer || p.IsNil() || p.Elem().Kind() != reflect.Struct {
		return nil
	}
	f := p.Elem().FieldByName("instructions")
	if !f.IsValid() || f.Kind() != reflect.Slice {
		return nil
	}
	// A value reached through unexported fields cannot have its methods
	// called; the same memory seen through NewAt can.
	instrs := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem()

	forward := map[int64]bool{}
	stack := []int64{cost.ID()}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if forward[id] {
			continue
		}
		forward[id] = true
		for it := g.From(id); it.Next(); {
			stack = append(stack, it.Node().ID())
		}
	}

	last := -1
	for i := range instrs.Len() {
		in := instrs.Index(i)
		if in.Kind() != reflect.Interface || in.IsNil() {
			return nil
		}
		m := in.MethodByName("ID")
		if !m.IsValid() || m.Type().NumIn() != 0 || m.Type().NumOut() != 1 || m.Type().Out(0).Kind() != reflect.Int64 {
			return nil
		}
		if forward[m.Call(nil)[0].Int()] {
			last = i
		}
	}
	if last < 0 || last+1 >= instrs.Len() {
		return nil
	}
	return &tapeSplit{
		instrs:  (*sliceHeader)(unsafe.Pointer(f.UnsafeAddr())),
		full:    instrs.Len(),
		forward: last + 1,
	}
}

// runSplit runs the forward part, calls between, then the rest.
func (n *net) runSplit(between func()) (err error) {
	defer recoverInto(&err)
	defer n.rewind()
	s := n.tape
	func() {
		s.instrs.len = s.forward
		defer func() { s.instrs.len = s.full }()
		err = n.vm.RunAll()
	}()
	if err != nil {
		return err
	}
	between()
	return n.vm.RunAll()
}
