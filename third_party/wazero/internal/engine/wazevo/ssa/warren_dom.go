package ssa

// warren: the loop detection and the loop nesting forest walked the
// dominator tree up from every block (from every predecessor of every block
// for the detection), which costs the depth of the tree per block: a
// function of 20,000 nested blocks, loops or ifs (60 KB of wasm) made a
// dominator tree 20,000 deep and took seconds to minutes to compile. These
// helpers answer the same questions in linear time overall.

// domIndex numbers the dominator tree of the blocks of
// reversePostOrderedBasicBlocks in depth-first order: d dominates n when
// n's interval [pre, post] lies within d's. A block outside the tree (not
// reachable) has pre -1.
type domIndex struct {
	pre, post      []int32
	child, sibling []int32
	stack          []int32
}

// build numbers the tree given by b.dominators, rooted at the entry block.
func (x *domIndex) build(b *builder) {
	n := b.basicBlocksPool.Allocated()
	x.pre = fill(x.pre, n, -1)
	x.post = fill(x.post, n, -1)
	x.child = fill(x.child, n, -1)
	x.sibling = fill(x.sibling, n, -1)
	ent := b.entryBlk()
	for _, blk := range b.reversePostOrderedBasicBlocks {
		if blk == ent {
			continue
		}
		p := b.dominators[blk.id]
		x.sibling[blk.id] = x.child[p.id]
		x.child[p.id] = int32(blk.id)
	}
	// An id pushed as is is entered; pushed complemented, left.
	var t int32
	stack := append(x.stack[:0], int32(ent.id))
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id < 0 {
			x.post[^id] = t
			t++
			continue
		}
		x.pre[id] = t
		t++
		stack = append(stack, ^id)
		for c := x.child[id]; c >= 0; c = x.sibling[c] {
			stack = append(stack, c)
		}
	}
	x.stack = stack
}

// dominates reports whether d dominates n, both in the tree.
func (x *domIndex) dominates(d, n *basicBlock) bool {
	return x.pre[d.id] <= x.pre[n.id] && x.post[n.id] <= x.post[d.id]
}

// inTree reports whether blk was numbered.
func (x *domIndex) inTree(blk *basicBlock) bool {
	return int(blk.id) < len(x.pre) && x.pre[blk.id] >= 0
}

func fill(s []int32, n int, v int32) []int32 {
	if cap(s) < n {
		s = make([]int32, n)
	}
	s = s[:n]
	for i := range s {
		s[i] = v
	}
	return s
}

// nearestLoopHeader returns the first strict dominator of blk that is a loop
// header, or the entry block when there is none, as walking b.dominators up
// from blk does. memo (indexed by block id, nil where unknown) keeps the
// answer for every block walked through, so that all the calls of one pass
// walk each block once.
func (b *builder) nearestLoopHeader(blk *basicBlock, memo []*basicBlock) *basicBlock {
	ent := b.entryBlk()
	doms := b.dominators
	n := doms[blk.id]
	path := b.blkStack2[:0]
	for !n.loopHeader && n != ent && memo[n.id] == nil {
		path = append(path, n)
		n = doms[n.id]
	}
	if !n.loopHeader && n != ent {
		n = memo[n.id]
	}
	for _, p := range path {
		memo[p.id] = n
	}
	b.blkStack2 = path
	return n
}
