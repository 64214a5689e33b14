package render

import (
	"strconv"
	"text/template"
	"text/template/parse"
)

// The functions the instrumentation calls; a template may name them too, harmlessly.
const (
	// stepFunc starts every template and every range iteration: one step, and the
	// allocation that evaluating the template's or the iteration's nodes costs.
	stepFunc = "renderStep"
	// enterFunc and leaveFunc surround every `template` call and count its depth.
	enterFunc = "renderEnter"
	leaveFunc = "renderLeave"
	// outFunc ends the pipeline of every action that prints, so that a value is printed
	// by a bounded printer instead of fmt's (a dict that a later `set` made huge, say).
	outFunc = "renderOut"
)

// What evaluating a node allocates in text/template, at most (TestChargesCoverWhat-
// ExecutionAllocates holds them to it).
const (
	commandCost   = 128
	argumentCost  = 80
	fieldCost     = 40
	iterationCost = 128
	templateCost  = 192
)

// instrument rewrites every tree of t (the template and the ones it defines) so that it
// spends steps and allocation, counts template nesting and prints through outFunc.
func instrument(t *template.Template) {
	for _, each := range t.Templates() {
		if each.Tree == nil || each.Root == nil {
			continue
		}
		weight := instrumentList(each.Root)
		each.Root.Nodes = append([]parse.Node{call(each.Root.Pos, stepFunc, number(weight+templateCost))}, each.Root.Nodes...)
	}
}

// instrumentList instruments the nodes of l and returns what evaluating them once costs,
// without the range bodies and the called templates, which charge for themselves.
func instrumentList(l *parse.ListNode) int64 {
	if l == nil {
		return 0
	}
	var weight int64
	nodes := make([]parse.Node, 0, len(l.Nodes))
	for _, node := range l.Nodes {
		switch n := node.(type) {
		case *parse.ActionNode:
			weight += pipeWeight(n.Pipe)
			if len(n.Pipe.Decl) == 0 {
				n.Pipe.Cmds = append(n.Pipe.Cmds, command(n.Pos, outFunc))
				weight += commandCost + 2*argumentCost
			}
		case *parse.IfNode:
			weight += pipeWeight(n.Pipe) + instrumentList(n.List) + instrumentList(n.ElseList)
		case *parse.WithNode:
			weight += pipeWeight(n.Pipe) + instrumentList(n.List) + instrumentList(n.ElseList)
		case *parse.RangeNode:
			weight += pipeWeight(n.Pipe) + instrumentList(n.ElseList) + iterationCost
			body := instrumentList(n.List)
			n.List.Nodes = append([]parse.Node{call(n.List.Pos, stepFunc, number(body+iterationCost))}, n.List.Nodes...)
		case *parse.TemplateNode:
			weight += pipeWeight(n.Pipe) + templateCost
			nodes = append(nodes, call(n.Pos, enterFunc), n, call(n.Pos, leaveFunc))
			continue
		}
		nodes = append(nodes, node)
	}
	l.Nodes = nodes
	return weight
}

func pipeWeight(p *parse.PipeNode) int64 {
	if p == nil {
		return 0
	}
	weight := int64(len(p.Decl)) * argumentCost
	for _, cmd := range p.Cmds {
		weight += commandCost
		for _, arg := range cmd.Args {
			weight += argWeight(arg)
		}
	}
	return weight
}

func argWeight(arg parse.Node) int64 {
	switch a := arg.(type) {
	case *parse.FieldNode:
		return argumentCost + fieldCost*int64(len(a.Ident))
	case *parse.VariableNode:
		return argumentCost + fieldCost*int64(len(a.Ident))
	case *parse.ChainNode:
		return argWeight(a.Node) + fieldCost*int64(len(a.Field))
	case *parse.PipeNode:
		return argumentCost + pipeWeight(a)
	}
	return argumentCost
}

// call is the action {{ name args... }}.
func call(pos parse.Pos, name string, args ...parse.Node) *parse.ActionNode {
	return &parse.ActionNode{NodeType: parse.NodeAction, Pos: pos, Pipe: &parse.PipeNode{
		NodeType: parse.NodePipe, Pos: pos, Cmds: []*parse.CommandNode{command(pos, name, args...)}}}
}

func command(pos parse.Pos, name string, args ...parse.Node) *parse.CommandNode {
	return &parse.CommandNode{NodeType: parse.NodeCommand, Pos: pos,
		Args: append([]parse.Node{parse.NewIdentifier(name).SetPos(pos)}, args...)}
}

func number(n int64) *parse.NumberNode {
	return &parse.NumberNode{NodeType: parse.NodeNumber, IsInt: true, Int64: n, Text: strconv.FormatInt(n, 10)}
}
