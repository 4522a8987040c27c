package webapi

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/dop251/goja"
)

// wptURLScript runs every urltestdata.json case through the JS URL class
// and returns the failures.
const wptURLScript = `(function (cases) {
  const fields = ['href', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash', 'origin'];
  const failures = [];
  let total = 0;
  for (const c of cases) {
    if (typeof c !== 'object') continue;
    total++;
    const name = JSON.stringify(c.input) + (c.base == null ? '' : ' against ' + JSON.stringify(c.base));
    let u;
    try {
      u = c.base == null ? new URL(c.input) : new URL(c.input, c.base);
    } catch (e) {
      if (!c.failure) failures.push([name, 'threw ' + e]);
      else if (!(e instanceof TypeError)) failures.push([name, 'threw non-TypeError ' + e]);
      continue;
    }
    if (c.failure) { failures.push([name, 'should fail, got ' + u.href]); continue; }
    for (const f of fields) {
      if (f in c && u[f] !== c[f]) failures.push([name, f + ' = ' + JSON.stringify(u[f]) + ', want ' + JSON.stringify(c[f])]);
    }
    if (c.searchParams !== undefined && u.searchParams.toString() !== c.searchParams)
      failures.push([name, 'searchParams = ' + JSON.stringify(u.searchParams.toString()) + ', want ' + JSON.stringify(c.searchParams)]);
  }
  return { total, failures };
})`

func TestWPTURL(t *testing.T) {
	raw, err := os.ReadFile("testdata/urltestdata.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []any
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	vm := goja.New()
	Install(vm, Options{})
	fn, err := vm.RunString(wptURLScript)
	if err != nil {
		t.Fatal(err)
	}
	run, _ := goja.AssertFunction(fn)
	res, err := run(goja.Undefined(), vm.ToValue(cases))
	if err != nil {
		t.Fatal(err)
	}
	obj := res.(*goja.Object)
	total := int(obj.Get("total").ToInteger())
	var failures [][2]string
	if err := vm.ExportTo(obj.Get("failures"), &failures); err != nil {
		t.Fatal(err)
	}
	// A case counts once however many of its fields differ.
	failed := map[string]bool{}
	for _, f := range failures {
		t.Logf("%s: %s", f[0], f[1])
		failed[f[0]] = true
	}
	pass := total - len(failed)
	t.Logf("WPT urltestdata.json through the JS URL class: %d/%d cases pass (%.2f%%)", pass, total, float64(pass)/float64(total)*100)
	if total < 800 {
		t.Fatalf("only %d cases ran", total)
	}
	for name := range failed {
		if !wptURLExpectedFailures[name] {
			t.Errorf("unexpected failure: %s", name)
		}
	}
	for name := range wptURLExpectedFailures {
		if !failed[name] {
			t.Errorf("expected failure passes now (remove it from wptURLExpectedFailures): %s", name)
		}
	}
}

// wptURLExpectedFailures names the urltestdata.json cases known to fail
// (input, then " against " base), each with the reason. Any other failure
// fails the test, and so does a listed case that passes.
var wptURLExpectedFailures = map[string]bool{}
