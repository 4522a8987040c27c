package bundle

import (
	"errors"
	"fmt"
	"testing"

	"github.com/dop251/goja"
)

// settle turns v into its settled value if it is a promise. Promise jobs
// have already run: goja drains them when the outermost Go->JS call returns.
func settle(v goja.Value) (goja.Value, error) {
	if v == nil {
		return v, nil
	}
	p, ok := v.Export().(*goja.Promise)
	if !ok {
		return v, nil
	}
	switch p.State() {
	case goja.PromiseStateFulfilled:
		return p.Result(), nil
	case goja.PromiseStateRejected:
		return nil, fmt.Errorf("promise rejected: %v", p.Result())
	}
	return nil, errors.New("promise still pending")
}

// runScript compiles and runs a bundled script in a fresh runtime and returns
// the runtime and the main module namespace.
func runScript(script string) (*goja.Runtime, *goja.Object, error) {
	prg, err := goja.Compile(ScriptName, script, false)
	if err != nil {
		return nil, nil, fmt.Errorf("compile: %w", err)
	}
	vm := goja.New()
	if _, err := vm.RunProgram(prg); err != nil {
		return vm, nil, err
	}
	ns := vm.Get(GlobalName)
	if ns == nil || goja.IsUndefined(ns) {
		return vm, nil, fmt.Errorf("%s is not defined", GlobalName)
	}
	return vm, ns.ToObject(vm), nil
}

// bundleRun bundles mods, runs the script and returns the settled default
// export (or the named export if name != "default").
func bundleRun(t testing.TB, main string, mods []Module, name string) (*goja.Runtime, goja.Value, error) {
	t.Helper()
	res, err := Bundle(main, mods)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle: %w", err)
	}
	vm, ns, err := runScript(res.Script)
	if err != nil {
		return vm, nil, err
	}
	v, err := settle(ns.Get(name))
	return vm, v, err
}

func esm(name, src string) Module { return Module{Name: name, Kind: ESM, Source: src} }
