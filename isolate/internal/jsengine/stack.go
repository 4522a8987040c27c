package jsengine

import (
	"strconv"
	"strings"
	"sync"

	"github.com/dop251/goja"

	"github.com/warrenmesh/warren/isolate/internal/contract"
)

// V8's stacks inside the Worker.
//
// goja writes an error's stack as "Error: m\n\tat f (index.js:3:9(12))\n",
// with its bytecode offsets, and builds that string inside the error
// object, with no hook. So for a script that names "stack" (usesStacks),
// the error constructors become thin JS wrappers around goja's (the same
// prototypes, so instanceof, subclassing and calls without new behave as
// before) that give each error they make an own "stack" written as V8
// writes one: "Error: m\n    at f (index.js:3:9)\n    at index.js:7:1",
// at most Error.stackTraceLimit frames, positions source-mapped to the
// author's files as goja maps them. The frames are taken when the error is
// made, the text is written when first read (lazyStack), as in V8.
// Error.captureStackTrace(obj[, fn]), which npm packages call, is added
// with them, and Error.prepareStackTrace(error, callSites) is honoured,
// with CallSite objects for the frames.
//
// The Web API makes its TypeErrors and RangeErrors with the global
// constructors, so they get these stacks too. Errors the engine itself
// makes without going through a constructor (reading a property of
// undefined, JSON.parse) get them from the formatter goja calls when such
// an error's stack is first read (Runtime.SetErrorStackFormatter, one of
// warren's goja patches).

// stackTraceLimit is V8's default Error.stackTraceLimit.
const stackTraceLimit = 10

// stackSource is the name of the wrapper script: its frames never show.
const stackSource = "warren:stacks"

// usesStacks reports whether a script may read a stack (or call
// Error.captureStackTrace): only then are the wrappers installed, since a
// fresh isolate must stay cheap.
func usesStacks(script string) bool {
	return strings.Contains(script, "stack") || strings.Contains(script, "Stack")
}

// stacksJS wraps the error constructors. It is given the Go function that
// writes a stack for an error made by the wrapper.
const stacksJS = `(function (stackOf, capture) {
	"use strict";
	const g = globalThis, names = ["Error", "TypeError", "RangeError", "SyntaxError",
		"ReferenceError", "EvalError", "URIError", "AggregateError"];
	const defineProperty = Object.defineProperty, construct = Reflect.construct;
	let base;
	for (const name of names) {
		const Orig = g[name];
		if (typeof Orig !== "function") continue;
		const W = ({ [name]: function () {
			const e = construct(Orig, arguments, new.target || W);
			let depth = 0;
			for (let c = new.target; c && c !== W; c = Object.getPrototypeOf(c)) depth++;
			stackOf(e, depth);
			return e;
		} })[name];
		defineProperty(W, "length", { value: Orig.length, configurable: true });
		defineProperty(W, "prototype", { value: Orig.prototype, writable: false });
		defineProperty(Orig.prototype, "constructor", { value: W, writable: true, configurable: true });
		if (base) Object.setPrototypeOf(W, base);
		else {
			base = W;
			defineProperty(W, "captureStackTrace", { value: function captureStackTrace(obj, fn) { capture(obj, fn); }, writable: true, configurable: true });
			defineProperty(W, "stackTraceLimit", { value: 10, writable: true, enumerable: true, configurable: true });
		}
		defineProperty(g, name, { value: W, writable: true, configurable: true });
	}
})`

var stacksProgram = sync.OnceValue(func() *goja.Program {
	return goja.MustCompile(stackSource, stacksJS, true)
})

// installStacks wraps the runtime's error constructors (see above).
func installStacks(vm *goja.Runtime) error {
	v, err := vm.RunProgram(stacksProgram())
	if err != nil {
		return err
	}
	fn, _ := goja.AssertFunction(v)
	// defining is set while lazyStack replaces an error's stack: goja
	// writes the one being replaced first, and that one must not run the
	// guest's Error.prepareStackTrace.
	defining := false
	stackOf := func(call goja.FunctionCall) goja.Value {
		if e, ok := call.Argument(0).(*goja.Object); ok {
			lazyStack(vm, &defining, e, captureFrames(vm, int(call.Argument(1).ToInteger()), ""))
		}
		return goja.Undefined()
	}
	capture := func(call goja.FunctionCall) goja.Value {
		o, ok := call.Argument(0).(*goja.Object)
		if !ok {
			panic(vm.NewTypeError("Error.captureStackTrace: the first argument must be an object"))
		}
		skipTo := ""
		if f, ok := call.Argument(1).(*goja.Object); ok {
			if _, isFn := goja.AssertFunction(f); isFn {
				skipTo = f.Get("name").String()
			}
		}
		lazyStack(vm, &defining, o, captureFrames(vm, 0, skipTo))
		return goja.Undefined()
	}
	_, err = fn(goja.Undefined(), vm.ToValue(stackOf), vm.ToValue(capture))
	if err != nil {
		return err
	}
	// The errors the engine raises itself (reading a property of
	// undefined, JSON.parse) never pass through a constructor: goja asks
	// this for their stack when it is first read.
	vm.SetErrorStackFormatter(func(o *goja.Object, frames []goja.StackFrame) goja.Value {
		if defining {
			return nil // lazyStack is replacing it: goja's text is discarded
		}
		kept := frames[:0:0]
		for _, f := range frames {
			if f.SrcName() != stackSource {
				kept = append(kept, f)
			}
		}
		return stackOfError(vm, o, limitFrames(vm, kept))
	})
	return nil
}

// lazyStack gives o a "stack" written on first read, as V8 does, so a
// subclass that sets this.name in its constructor has it in the head, and
// Error.prepareStackTrace, if set by then, makes it. Read once, it becomes
// a plain data property; assigned, it takes the value.
func lazyStack(vm *goja.Runtime, defining *bool, o *goja.Object, frames []goja.StackFrame) {
	settle := func(v goja.Value) {
		if err := o.DefineDataProperty("stack", v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
			panic(err)
		}
	}
	formatting := false
	get := vm.ToValue(func(goja.FunctionCall) goja.Value {
		var v goja.Value
		if formatting { // prepareStackTrace reading err.stack gets the plain text
			v = vm.ToValue(errorHead(vm, o) + formatFrames(frames))
		} else {
			formatting = true
			func() {
				defer func() { formatting = false }()
				v = stackOfError(vm, o, frames)
			}()
		}
		settle(v)
		return v
	})
	set := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		settle(call.Argument(0))
		return goja.Undefined()
	})
	// Defining "stack" on an error makes goja write its own stack first,
	// reading name and message; a getter that throws there (DOMException's
	// name, whose private field its constructor sets only after super())
	// leaves goja's stack in place.
	_ = vm.Try(func() {
		*defining = true
		defer func() { *defining = false }()
		_ = o.DefineAccessorProperty("stack", get, set, goja.FLAG_TRUE, goja.FLAG_FALSE)
	})
}

// stackOfError is o's stack made of frames: what Error.prepareStackTrace
// makes of them when the guest has set it, else V8's text.
func stackOfError(vm *goja.Runtime, o *goja.Object, frames []goja.StackFrame) goja.Value {
	if v, ok := prepared(vm, o, frames); ok {
		return v
	}
	return vm.ToValue(errorHead(vm, o) + formatFrames(frames))
}

// limitFrames keeps the first Error.stackTraceLimit of frames.
func limitFrames(vm *goja.Runtime, frames []goja.StackFrame) []goja.StackFrame {
	if limit := stackTraceLimitOf(vm); len(frames) > limit {
		return frames[:limit]
	}
	return frames
}

// captureFrames returns the frames of the current call stack that V8
// would show: the caller's, skipping the wrapper's own; then the
// constructors of the subclasses that led to the wrapper, up to depth of
// them (V8 starts an error's stack at the code that said new); then, when
// skipTo names a function, every frame down to and including the first of
// that name (captureStackTrace's second argument). At most
// Error.stackTraceLimit frames.
func captureFrames(vm *goja.Runtime, depth int, skipTo string) []goja.StackFrame {
	frames := vm.CaptureCallStack(0, nil)
	// From the top: the Go function that called this (native), the
	// wrapper or captureStackTrace, then the guest's.
	start := 0
	for i, f := range frames {
		if f.SrcName() == stackSource {
			start = i + 1
		}
	}
	frames = frames[start:]
	// goja names no class constructor, and a default constructor has no
	// frame of its own: skip unnamed frames, at most one per subclass.
	for ; depth > 0 && len(frames) > 0 && frames[0].SrcName() != "<native>" && frames[0].FuncName() == "<anonymous>"; depth-- {
		frames = frames[1:]
	}
	if skipTo != "" {
		for i, f := range frames {
			if f.FuncName() == skipTo {
				frames = frames[i+1:]
				break
			}
		}
	}
	return limitFrames(vm, frames)
}

// formatFrames writes frames as V8 does, each after a newline.
func formatFrames(frames []goja.StackFrame) string {
	var b strings.Builder
	for _, f := range frames {
		b.WriteByte('\n')
		b.WriteString(contract.FrameIndent)
		writeV8Frame(&b, f)
	}
	return b.String()
}

// prepared is the stack V8's Error.prepareStackTrace(error, callSites)
// makes, when the guest has set it to a function: its return value, of
// any type, is the stack. ok is false when there is none.
func prepared(vm *goja.Runtime, o *goja.Object, frames []goja.StackFrame) (goja.Value, bool) {
	errCtor, isObj := vm.Get("Error").(*goja.Object)
	if !isObj {
		return nil, false
	}
	prepare, isFn := goja.AssertFunction(errCtor.Get("prepareStackTrace"))
	if !isFn {
		return nil, false
	}
	sites := make([]any, len(frames))
	for i, f := range frames {
		sites[i] = callSite(vm, f)
	}
	v, err := prepare(errCtor, o, vm.NewArray(sites...))
	if err != nil {
		panic(err)
	}
	return v, true
}

// callSite is V8's CallSite for one frame: what libraries that read
// structured stacks (callsites, depd, source-map-support) call.
func callSite(vm *goja.Runtime, f goja.StackFrame) *goja.Object {
	o := vm.NewObject()
	native := f.SrcName() == "<native>"
	p := f.Position()
	name := f.FuncName()
	if name == "<anonymous>" || name == "<native>" {
		name = ""
	}
	method := func(n string, v func() any) {
		_ = o.Set(n, func(goja.FunctionCall) goja.Value { return vm.ToValue(v()) })
	}
	nullIf := func(empty bool, v any) any {
		if empty {
			return nil
		}
		return v
	}
	method("getFileName", func() any { return nullIf(native || p.Filename == "", p.Filename) })
	method("getScriptNameOrSourceURL", func() any { return nullIf(native || p.Filename == "", p.Filename) })
	method("getLineNumber", func() any { return nullIf(native, p.Line) })
	method("getColumnNumber", func() any { return nullIf(native, p.Column) })
	method("getFunctionName", func() any { return nullIf(name == "", name) })
	method("getMethodName", func() any { return nil })
	method("getTypeName", func() any { return nil })
	method("getThis", func() any { return goja.Undefined() })
	method("getFunction", func() any { return goja.Undefined() })
	method("getEvalOrigin", func() any { return goja.Undefined() })
	method("isNative", func() any { return native })
	method("isToplevel", func() any { return name == "" })
	method("isEval", func() any { return false })
	method("isConstructor", func() any { return false })
	method("isAsync", func() any { return false })
	method("isPromiseAll", func() any { return false })
	method("getPromiseIndex", func() any { return nil })
	method("toString", func() any {
		var b strings.Builder
		writeV8Frame(&b, f)
		return b.String()
	})
	return o
}

// stackTraceLimitOf reads Error.stackTraceLimit as V8 does: a number,
// at least 0; anything else means no frames.
func stackTraceLimitOf(vm *goja.Runtime) int {
	errCtor, ok := vm.Get("Error").(*goja.Object)
	if !ok {
		return stackTraceLimit
	}
	v := errCtor.Get("stackTraceLimit")
	if v == nil || goja.IsUndefined(v) {
		return 0
	}
	if _, isNum := v.Export().(float64); !isNum {
		if _, isInt := v.Export().(int64); !isInt {
			return 0
		}
	}
	n := v.ToFloat()
	switch {
	case n != n || n <= 0:
		return 0
	case n > 1<<20:
		return 1 << 20
	}
	return int(n)
}

// errorHead is the first line of o's stack, as Error.prototype.toString
// gives it; a guest's throwing getter leaves just the class name.
func errorHead(vm *goja.Runtime, o *goja.Object) string {
	var s string
	if ex := vm.Try(func() {
		name, msg := "Error", ""
		if v := o.Get("name"); v != nil && !goja.IsUndefined(v) {
			name = v.String()
		}
		if v := o.Get("message"); v != nil && !goja.IsUndefined(v) {
			msg = v.String()
		}
		switch {
		case name == "":
			s = msg
		case msg == "":
			s = name
		default:
			s = name + ": " + msg
		}
	}); ex != nil {
		return o.ClassName()
	}
	return s
}

// writeV8Frame writes one frame as V8 does: "fn (file:line:col)", or
// "file:line:col" for top-level code and anonymous functions; a native
// function as "fn (native)".
func writeV8Frame(b *strings.Builder, f goja.StackFrame) {
	if f.SrcName() == "<native>" {
		if n := f.FuncName(); n != "<native>" && n != "" {
			b.WriteString(n)
			b.WriteString(" (native)")
		} else {
			b.WriteString("native")
		}
		return
	}
	name := f.FuncName()
	if name == "<anonymous>" {
		name = ""
	}
	if name != "" {
		b.WriteString(name)
		b.WriteString(" (")
	}
	p := f.Position()
	if p.Filename != "" {
		b.WriteString(p.Filename)
	} else {
		b.WriteString("<anonymous>")
	}
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(p.Line))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(p.Column))
	if name != "" {
		b.WriteByte(')')
	}
}
