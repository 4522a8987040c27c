package bundle

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dop251/goja"
)

// tsProgram returns a TypeScript program of about size bytes: main.ts plus
// modules of ~1.2 KB each (interfaces, enums, generics, classes with fields
// and #private members, async functions), all imported by main.ts.
func tsProgram(size int) []Module {
	var mods []Module
	var main strings.Builder
	main.WriteString("import { DurableObject } from \"cloudflare:workers\";\n")
	total := 0
	for i := 0; total < size; i++ {
		src := fmt.Sprintf(`import type { Env } from "./types";

export enum Mode%[1]d { Off, On, Auto = "auto" }

export interface Item%[1]d<T = unknown> {
  id: string;
  value: T;
  tags?: readonly string[];
}

export class Store%[1]d<T> {
  #items = new Map<string, Item%[1]d<T>>();
  protected readonly mode: Mode%[1]d = Mode%[1]d.On;
  count = 0;

  constructor(private readonly prefix: string, env?: Env) {
    if (env?.DEBUG) console.log("store", prefix);
  }

  put(id: string, value: T, tags: string[] = []): Item%[1]d<T> {
    const item: Item%[1]d<T> = { id: this.prefix + id, value, tags };
    this.#items.set(item.id, item);
    this.count++;
    return item;
  }

  get(id: string): T | undefined {
    return this.#items.get(this.prefix + id)?.value;
  }

  *entries(): Generator<[string, T]> {
    for (const [k, v] of this.#items) yield [k, v.value];
  }
}

export async function work%[1]d(n: number, env: Env): Promise<number> {
  const s = new Store%[1]d<number>("k%[1]d:", env);
  for (let i = 0; i < n; i++) s.put(String(i), i * %[1]d);
  let sum = 0;
  for (const [, v] of s.entries()) sum += v ?? 0;
  await Promise.resolve();
  return sum + (s.get("1") ?? 0);
}
`, i)
		name := fmt.Sprintf("lib/mod%d.ts", i)
		mods = append(mods, esm(name, src))
		fmt.Fprintf(&main, "import { work%d } from \"./lib/mod%d\";\n", i, i)
		total += len(src)
	}
	mods = append(mods, esm("lib/types.ts", "export interface Env { DEBUG?: boolean; [k: string]: unknown }\n"))
	main.WriteString(`
export class Counter extends DurableObject {
  n = 0;
  async fetch(): Promise<number> { return ++this.n; }
}

export default {
  async fetch(req: unknown, env: any): Promise<number> {
    let total = 0;
`)
	for i := range len(mods) - 1 {
		fmt.Fprintf(&main, "    total += await work%d(3, env);\n", i)
	}
	main.WriteString("    return total;\n  },\n};\n")
	return append([]Module{esm("main.ts", main.String())}, mods...)
}

func sourceSize(mods []Module) int {
	n := 0
	for _, m := range mods {
		n += len(m.Source)
	}
	return n
}

func TestBenchProgramRuns(t *testing.T) {
	for _, keep := range []bool{false, true} {
		res, err := bundle("main.ts", tsProgram(5000), options{keepNames: keep})
		if err != nil {
			t.Fatal(err)
		}
		vm, ns, err := runScript(res.Script)
		if err != nil {
			t.Fatal(err)
		}
		fetch, _ := goja.AssertFunction(ns.Get("default").ToObject(vm).Get("fetch"))
		v, err := fetch(goja.Undefined(), goja.Undefined(), vm.ToValue(map[string]any{}))
		if err != nil {
			t.Fatal(err)
		}
		if v, err = settle(v); err != nil || v.ToInteger() == 0 {
			t.Fatalf("fetch = %v, %v", v, err)
		}
	}
}

func BenchmarkBundle(b *testing.B) {
	for _, size := range []int{5_000, 50_000} {
		mods := tsProgram(size)
		for _, keep := range []bool{false, true} {
			b.Run(fmt.Sprintf("%dKB/keepNames=%v", sourceSize(mods)/1000, keep), func(b *testing.B) {
				b.SetBytes(int64(sourceSize(mods)))
				var out int
				for b.Loop() {
					res, err := bundle("main.ts", mods, options{keepNames: keep})
					if err != nil {
						b.Fatal(err)
					}
					out = len(res.Script)
				}
				b.ReportMetric(float64(out), "script-bytes")
			})
		}
	}
}

// BenchmarkRunTopLevel measures what every invocation pays: running the
// compiled bundle's top level in a fresh runtime (KeepNames adds __name calls).
func BenchmarkRunTopLevel(b *testing.B) {
	mods := tsProgram(50_000)
	for _, keep := range []bool{false, true} {
		res, err := bundle("main.ts", mods, options{keepNames: keep})
		if err != nil {
			b.Fatal(err)
		}
		prg, err := goja.Compile(ScriptName, res.Script, false)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("keepNames=%v", keep), func(b *testing.B) {
			for b.Loop() {
				vm := goja.New()
				if _, err := vm.RunProgram(prg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
